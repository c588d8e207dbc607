"""Repository webhooks of the stand-in: list, create, read and update, shaped per GitHub's REST docs.

`GET/POST /repos/{owner}/{repo}/hooks`, `GET/PATCH /repos/{owner}/{repo}/hooks/{hook_id}`
(https://docs.github.com/en/rest/repos/webhooks). Only the repository's owner (the token user)
sees them; anyone else gets 404, as on GitHub. The secret is stored and answered as `********`.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from tests.standin.model import now_iso
from tests.standin.shapes import NOT_FOUND

if TYPE_CHECKING:
    from tests.standin.server import GitHubStandIn

HOOKS_PATH = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)/hooks(?:/(?P<hook_id>\d+))?$")
VALIDATION = {"message": "Validation Failed", "documentation_url": "https://docs.github.com/rest/repos/webhooks"}


def _public(standin: GitHubStandIn, full_name: str, hook: dict[str, Any]) -> dict[str, Any]:
    url = f"{standin.api_url}/repos/{full_name}/hooks/{hook['id']}"
    config = dict(hook["config"])
    if config.get("secret"):
        config["secret"] = "********"
    return {"type": "Repository", **hook, "config": config, "url": url, "test_url": f"{url}/test",
            "ping_url": f"{url}/pings", "deliveries_url": f"{url}/deliveries",
            "last_response": {"code": None, "status": "unused", "message": None}}  # fmt: skip


def _invalid(field: str) -> tuple[int, dict[str, Any]]:
    return 422, {**VALIDATION, "errors": [{"resource": "Hook", "code": "custom", "field": field}]}


def _apply(hook: dict[str, Any], body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    config = body.get("config", hook.get("config"))
    if not isinstance(config, dict) or not isinstance(config.get("url"), str) or not config["url"]:
        return _invalid("config.url")
    events = body.get("events", hook.get("events") or ["push"])
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        return _invalid("events")
    stored = {"content_type": config.get("content_type", "form"), "insecure_ssl": str(config.get("insecure_ssl", "0"))}
    stored["url"] = config["url"]
    if config.get("secret"):
        stored["secret"] = config["secret"]
    hook["config"] = stored
    hook["events"] = list(events)
    hook["active"] = bool(body.get("active", hook.get("active", True)))
    hook["updated_at"] = now_iso()
    return None


def answer_hooks(standin: GitHubStandIn, method: str, path: str, raw: bytes, identity: str) -> tuple[int, Any] | None:
    """Answer a hooks request as (status, JSON body); None when the path is not a hooks path."""
    match = HOOKS_PATH.match(path)
    if match is None:
        return None
    repo = standin.find_repo(match.group("owner"), match.group("name"))
    if repo is None or identity != "token" or repo.owner.lower() != standin.user.login.lower():
        return 404, NOT_FOUND
    hooks = standin.hooks.setdefault(repo.id, [])
    hook_id = match.group("hook_id")
    if hook_id is None and method == "GET":
        return 200, [_public(standin, repo.full_name, h) for h in hooks]
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return 400, {"message": "Problems parsing JSON", "documentation_url": VALIDATION["documentation_url"]}
    if hook_id is None and method == "POST":
        hook: dict[str, Any] = {"id": standin.next_hook_id(), "name": body.get("name", "web"),
                                "created_at": now_iso()}  # fmt: skip
        problem = _apply(hook, body)
        if problem is not None:
            return problem
        if any(h["config"]["url"] == hook["config"]["url"] for h in hooks):
            message = "Hook already exists on this repository"
            return 422, {**VALIDATION, "errors": [{"resource": "Hook", "code": "custom", "message": message}]}
        hooks.append(hook)
        return 201, _public(standin, repo.full_name, hook)
    found = next((h for h in hooks if str(h["id"]) == hook_id), None)
    if found is None:
        return 404, NOT_FOUND
    if method == "GET":
        return 200, _public(standin, repo.full_name, found)
    if method == "PATCH":
        problem = _apply(found, body)
        return problem or (200, _public(standin, repo.full_name, found))
    return 404, NOT_FOUND
