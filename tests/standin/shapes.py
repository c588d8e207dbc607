"""Build GitHub-shaped bodies and header lists from the recorded exchanges in tests/standin/recordings/.

Every body the stand-in sends starts from a recorded body (fields then overridden from its state)
and every header list from a recorded answer (same names, case and order). Absolute GitHub URLs of
the recordings are rewritten to the stand-in's own base URLs, because PyGithub only accepts URLs
whose host matches its base_url.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

RECORDINGS = Path(__file__).parent / "recordings"
GITHUB_API = "https://api.github.com"
GITHUB_WEB = "https://github.com"
DOCS = "https://docs.github.com/rest"
RATE_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Used",
    "X-RateLimit-Resource",
)

# answer kind -> (recording, exchange index) whose headers (and body shape) it copies
TEMPLATES: dict[str, tuple[str, int]] = {
    "repo": ("repo_get.pygithub.2026.json", 0),
    "user": ("repo_get.pygithub.2026.json", 0),  # no /user recording: the closest modern header set
    "user_repos": ("user_repos.octokit-rb.2024.json", 0),
    "languages": ("languages.octokit-rb.2013.json", 0),
    "events": ("events_public.pygithub.2020.json", 0),
    "repo_events": ("events_repo.github3py.2018.json", 0),
    "rate_limit": ("rate_limit_get.pygithub.2023.json", 0),
    "moved": ("repo_renamed_301.octokit-fixtures.2022.json", 0),
    "not_modified": ("conditional_304.pygithub.2013.json", 1),
    "error": ("repo_renamed_301.octokit-fixtures.2022.json", 0),  # a JSON answer without ETag
    "primary": ("ratelimit_403.docs-example.json", 0),
    "secondary": ("ratelimit_403_secondary.pygithub.2018.json", 0),
    "secondary_bare": ("ratelimit_403.docs-example.json", 1),
    "server_error": ("server_error_500_then_200.pygithub.2018.json", 0),
}

NOT_FOUND = {"message": "Not Found", "documentation_url": DOCS}
BAD_CREDENTIALS = {"message": "Bad credentials", "documentation_url": DOCS}
REQUIRES_AUTH = {"message": "Requires authentication", "documentation_url": DOCS}
FORBIDDEN = {"message": "Resource not accessible by personal access token", "documentation_url": DOCS}
TYPE_CONFLICT = {
    "message": "If you specify visibility or affiliation, you cannot specify type.",
    "documentation_url": "https://docs.github.com/rest/repos/repos#list-repositories-for-the-authenticated-user",
}
PAGINATION_LIMITED = {
    "message": "In order to keep the API fast for everyone, pagination is limited for this resource.",
    "documentation_url": "https://docs.github.com/v3/#pagination",
}
# The payload GitHub documents today for PushEvent (commits/size/distinct_size were dropped).
PUSH_PAYLOAD_KEYS = ("repository_id", "push_id", "ref", "head", "before")


@functools.cache
def _load(name: str) -> dict[str, Any]:
    return json.loads((RECORDINGS / name).read_text(encoding="utf-8"))


def load_recording(name: str) -> dict[str, Any]:
    """Return a copy of one recording file (origin, covers, notes, exchanges)."""
    return copy.deepcopy(_load(name))


def recorded_response(kind: str) -> dict[str, Any]:
    """Return a copy of the recorded response a kind of answer is modelled on."""
    name, index = TEMPLATES[kind]
    return copy.deepcopy(_load(name)["exchanges"][index]["response"])


def encode_json(body: Any) -> bytes:
    """Serialise a body the way GitHub does (compact UTF-8 JSON)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def weak_etag(payload: bytes) -> str:
    """Return a weak ETag derived from the body, like GitHub's `W/"<sha256>"`."""
    return f'W/"{hashlib.sha256(payload).hexdigest()}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Tell whether an If-None-Match list matches an ETag (weak comparison, RFC 9110 §13.1.2)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in if_none_match.split(","))


def node_id(kind: str, number: int) -> str:
    """Return a legacy global node id (`MDEwOlJlcG9zaXRvcnkz...` = base64 of `010:Repository3...`)."""
    prefix = {"Repository": "010", "User": "04", "Organization": "012"}[kind]
    return base64.b64encode(f"{prefix}:{kind}{number}".encode()).decode()


def link_header(url_base: str, path: str, query: Sequence[tuple[str, str]], page: int, last: int) -> str | None:
    """Return GitHub's Link header: `<url>; rel="next", <url>; rel="last"` (+ prev/first after page 1)."""
    kept = [(k, v) for k, v in query if k != "page"]

    def url(number: int) -> str:
        return f"{url_base}{path}?{urlencode([*kept, ('page', str(number))])}"

    rels: list[tuple[str, int]] = []
    if page > 1:
        rels.append(("prev", min(page - 1, last)))
    if page < last:
        rels += [("next", page + 1), ("last", last)]
    if page > 1:
        rels.append(("first", 1))
    return ", ".join(f'<{url(n)}>; rel="{rel}"' for rel, n in rels) or None


class HeaderList:
    """An ordered header list that keeps the recorded names' case."""

    def __init__(self, pairs: Iterable[Sequence[str]]) -> None:
        self.pairs = [[str(name), str(value)] for name, value in pairs]

    def _index(self, name: str) -> int | None:
        lowered = name.lower()
        return next((i for i, (n, _) in enumerate(self.pairs) if n.lower() == lowered), None)

    def get(self, name: str) -> str | None:
        """Return the first value of a header."""
        index = self._index(name)
        return None if index is None else self.pairs[index][1]

    def set(self, name: str, value: str, after: Sequence[str] = ()) -> None:
        """Replace a header in place, else insert it after the first of `after` present, else append."""
        index = self._index(name)
        if index is not None:
            self.pairs[index][1] = value
            return
        for anchor in after:
            position = self._index(anchor)
            if position is not None:
                self.pairs.insert(position + 1, [name, value])
                return
        self.pairs.append([name, value])

    def remove(self, *names: str) -> None:
        """Drop every header with one of these names."""
        lowered = {n.lower() for n in names}
        self.pairs = [p for p in self.pairs if p[0].lower() not in lowered]

    def items(self) -> list[tuple[str, str]]:
        """Return (name, value) pairs in order."""
        return [(n, v) for n, v in self.pairs]


class Shapes:
    """Recorded bodies rewritten to the stand-in's base URLs, and builders on top of them."""

    def __init__(self, api_url: str, web_url: str) -> None:
        self.api_url = api_url
        self.web_url = web_url
        self._repo = self._rewritten(recorded_response("repo")["body"])
        self._list_keys = list(recorded_response("user_repos")["body"][0])
        self._events: dict[str, dict[str, Any]] = {}
        for kind in ("repo_events", "events"):
            for event in self._rewritten(recorded_response(kind)["body"]):
                self._events.setdefault(event["type"], event)

    def _rewritten(self, body: Any) -> Any:
        text = json.dumps(body).replace(GITHUB_API, self.api_url).replace(GITHUB_WEB, self.web_url)
        return json.loads(text)

    def simple_user(self, login: str, user_id: int, kind: str = "User") -> dict[str, Any]:
        """Return the `owner`-style user object of the recordings for another login."""
        template = self._repo["owner"]
        user = {
            key: value.replace("/PyGithub", f"/{login}") if isinstance(value, str) else value
            for key, value in template.items()
        }
        user.update(
            login=login,
            id=user_id,
            node_id=node_id(kind, user_id),
            avatar_url=f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
            type=kind,
        )
        return user

    def repository(self, fields: dict[str, Any], owner: dict[str, Any], *, listing: bool) -> dict[str, Any]:
        """Return a repository body: the recorded one with URLs and fields taken from `fields`."""
        full_name = f"{owner['login']}/{fields['name']}"
        text = json.dumps(self._repo)
        text = text.replace(f"{self.api_url}/repos/PyGithub/PyGithub", f"{self.api_url}/repos/{full_name}")
        text = text.replace(f"{self.web_url}/PyGithub/PyGithub", f"{self.web_url}/{full_name}")
        body = json.loads(text)
        body.update(fields, full_name=full_name, owner=owner, node_id=node_id("Repository", fields["id"]))
        if owner["type"] == "Organization":
            body["organization"] = owner
        else:
            body.pop("organization", None)
        if body.get("permissions") is None:
            body.pop("permissions", None)
        if listing:
            return {key: body[key] for key in self._list_keys if key in body}
        return body

    def actor(self, user: dict[str, Any]) -> dict[str, Any]:
        """Return the short actor object events carry."""
        return {
            "id": user["id"],
            "login": user["login"],
            "display_login": user["login"],
            "gravatar_id": "",
            "url": user["url"],
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user['id']}?",
        }

    def default_payload(self, event_type: str, repo: dict[str, Any], event_id: int) -> dict[str, Any]:
        """Return a payload for an event type: today's PushEvent shape, else the recorded one."""
        if event_type == "PushEvent":
            branch = repo.get("default_branch") or "main"
            return dict(
                zip(PUSH_PAYLOAD_KEYS, (repo["id"], event_id, f"refs/heads/{branch}", "0" * 40, "0" * 40), strict=True)
            )
        template = self._events.get(event_type)
        return copy.deepcopy(template["payload"]) if template else {}

    def event(self, fields: dict[str, Any], repo: dict[str, Any], actor: dict[str, Any]) -> dict[str, Any]:
        """Return an event body in the recorded shape."""
        body: dict[str, Any] = {
            "id": str(fields["id"]),
            "type": fields["type"],
            "actor": self.actor(actor),
            "repo": {"id": repo["id"], "name": repo["full_name"], "url": f"{self.api_url}/repos/{repo['full_name']}"},
            "payload": fields["payload"],
            "public": fields["public"],
            "created_at": fields["created_at"],
        }
        if repo["owner"]["type"] == "Organization":
            org = repo["owner"]
            body["org"] = {k: org[k] for k in ("id", "login", "gravatar_id", "url", "avatar_url")}
        return body

    def rate_limit(self, core: dict[str, int]) -> dict[str, Any]:
        """Return the recorded /rate_limit body with `core` and `rate` taken from the stand-in."""
        body = recorded_response("rate_limit")["body"]
        for resource in body["resources"].values():
            resource["reset"] = core["reset"]
        body["resources"]["core"] = dict(core)
        body["rate"] = dict(core)
        return body
