"""Decide the stand-in's answers: routing, auth, rate limits, pagination and conditional requests.

Rules follow GitHub's REST docs and the recordings: Link pagination (`per_page` default 30, max
100; events capped at 300), weak ETags with free 304s, a 403 once a rate window is spent, 401 for
a wrong token, 301 from a renamed repository to /repositories/{id}.
"""

from __future__ import annotations

import calendar
import dataclasses
import math
import re
import time
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from tests.standin.faults import Fault
from tests.standin.hooks import answer_hooks
from tests.standin.model import Bucket
from tests.standin.shapes import (
    BAD_CREDENTIALS,
    NOT_FOUND,
    PAGINATION_LIMITED,
    REQUIRES_AUTH,
    TYPE_CONFLICT,
    encode_json,
    etag_matches,
    link_header,
    recorded_response,
    weak_etag,
)

if TYPE_CHECKING:
    from tests.standin.server import GitHubStandIn


@dataclass
class Request:
    """One parsed request; `path` is the API path (api prefix removed), header names lower-case."""

    method: str
    raw_path: str
    path: str
    query: list[tuple[str, str]]
    query_string: str
    headers: dict[str, str]
    body: bytes
    client_ip: str


@dataclass
class Answer:
    """What to send: a status, the recording it is shaped on, a JSON body and header overrides."""

    status: int
    template: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    identity: str = "anonymous"
    charged: bool = True
    rate_headers: bool = True
    cacheable: bool = False
    last_modified: str | None = None  # ISO timestamp
    raw: bytes | None = None
    bucket: Bucket | None = None
    fault: str | None = None
    delay: float = 0.0
    gate: Any = None  # a threading.Event the answer waits for (fault "hold")
    drop: bool = False


def http_date(value: str | None = None) -> str:
    """Return an HTTP-date for an ISO timestamp (now when None)."""
    if value is None:
        return formatdate(usegmt=True)
    return formatdate(calendar.timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ")), usegmt=True)


def _error(status: int, body: dict[str, Any], identity: str) -> Answer:
    return Answer(status, "error", body, identity=identity)


def _page_args(query: list[tuple[str, str]]) -> tuple[int, int]:
    """Return (per_page, page): per_page defaults to 30 and is capped at 100 (GitHub pagination docs)."""
    values = dict(query)
    try:
        per_page = int(values.get("per_page", 30))
    except ValueError:
        per_page = 30
    try:
        page = max(int(values.get("page", 1)), 1)
    except ValueError:
        page = 1
    return (min(per_page, 100) if per_page > 0 else 30), page


def _paged(
    standin: GitHubStandIn, req: Request, items: list[Any], link_path: str, cap: int | None = None
) -> tuple[list[Any], str | None] | None:
    """Return one page of items and its Link header; None when the page is past a capped list."""
    per_page, page = _page_args(req.query)
    if cap is not None:
        if (page - 1) * per_page >= cap:
            return None
        items = items[:cap]
    last = max(math.ceil(len(items) / per_page), 1)
    return items[(page - 1) * per_page : page * per_page], link_header(
        standin.api_url, link_path, req.query, page, last
    )


def _events(
    standin: GitHubStandIn, req: Request, identity: str, feed: list[dict[str, Any]], template: str, link_path: str
) -> Answer:
    """Answer an events feed: newest first, at most 300 events, `X-Poll-Interval`."""
    paged = _paged(standin, req, feed, link_path, cap=300)
    if paged is None:
        return _error(422, PAGINATION_LIMITED, identity)
    items, link = paged
    headers = {"X-Poll-Interval": str(standin.poll_interval)}
    if link:
        headers["Link"] = link
    newest = items[0]["created_at"] if items else None
    return Answer(200, template, items, headers, identity, cacheable=True, last_modified=newest)


def _user(standin: GitHubStandIn, req: Request, identity: str, match: re.Match[str]) -> Answer:
    if identity != "token":
        return _error(401, REQUIRES_AUTH, identity)
    user = standin.user
    body = standin.user_object(user.login)
    owned = [r for r in standin.repos.values() if r.owner.lower() == user.login.lower()]
    body.update(
        name=user.name,
        public_repos=sum(not r.private for r in owned),
        total_private_repos=sum(r.private for r in owned),
        owned_private_repos=sum(r.private for r in owned),
        created_at=user.created_at,
        updated_at=user.updated_at,
    )
    return Answer(200, "user", body, identity=identity, cacheable=True, last_modified=user.updated_at)


def _user_repos(standin: GitHubStandIn, req: Request, identity: str, match: re.Match[str]) -> Answer:
    """List the token user's repositories (type / affiliation / visibility / sort / direction)."""
    if identity != "token":
        return _error(401, REQUIRES_AUTH, identity)
    q = dict(req.query)
    if "type" in q and ("visibility" in q or "affiliation" in q):
        return _error(422, TYPE_CONFLICT, identity)
    login = standin.user.login.lower()

    def relation(repo: Any) -> str | None:
        return "owner" if repo.owner.lower() == login else repo.member

    kind = q.get("type", "all")
    affiliations = set(q.get("affiliation", "owner,collaborator,organization_member").split(","))
    visibility = q.get("visibility", "all")
    chosen = []
    for repo in standin.repos.values():
        tie = relation(repo)
        if tie is None:
            continue
        if "type" in q:
            keep = {"all": True, "owner": tie == "owner", "member": tie != "owner"}.get(kind, True)
            keep = keep and (kind != "public" or not repo.private) and (kind != "private" or repo.private)
        else:
            keep = tie in affiliations and visibility in ("all", "private" if repo.private else "public")
        if keep:
            chosen.append(repo)
    sort = q.get("sort", "full_name")
    key = {"created": "created_at", "updated": "updated_at", "pushed": "pushed_at"}.get(sort)
    descending = q.get("direction", "asc" if key is None else "desc") == "desc"
    chosen.sort(key=lambda r: (getattr(r, key) or "") if key else r.full_name.lower(), reverse=descending)
    items, link = _paged(standin, req, chosen, "/user/repos") or ([], None)
    body = [standin.repo_body(r, identity, listing=True) for r in items]
    return Answer(200, "user_repos", body, {"Link": link} if link else {}, identity, cacheable=True)


def _repo_resource(standin: GitHubStandIn, req: Request, identity: str, repo: Any, rest: str) -> Answer:
    if rest == "":
        body = standin.repo_body(repo, identity, listing=False)
        return Answer(200, "repo", body, identity=identity, cacheable=True, last_modified=repo.updated_at)
    if rest == "/languages":
        return Answer(
            200, "languages", dict(repo.languages), identity=identity, cacheable=True, last_modified=repo.updated_at
        )
    if rest == "/events":
        feed = [e for e in standin.events if e["repo"]["id"] == repo.id]
        return _events(standin, req, identity, feed, "repo_events", f"/repositories/{repo.id}/events")
    return _error(404, NOT_FOUND, identity)


def _repos(standin: GitHubStandIn, req: Request, identity: str, match: re.Match[str]) -> Answer:
    owner, name, rest = match.group("owner"), match.group("name"), match.group("rest") or ""
    repo = standin.find_repo(owner, name)
    if repo is not None and standin.can_see(repo, identity):
        return _repo_resource(standin, req, identity, repo, rest)
    moved = standin.moved.get(f"{owner}/{name}".lower())
    if repo is None and moved is not None and moved in standin.repos:
        location = f"{standin.api_url}/repositories/{moved}{rest}" + (
            f"?{req.query_string}" if req.query_string else ""
        )
        body = {
            "message": "Moved Permanently",
            "url": location,
            "documentation_url": "https://docs.github.com/v3/#http-redirects",
        }
        return Answer(301, "moved", body, {"Location": location}, identity)
    return _error(404, NOT_FOUND, identity)


def _repositories(standin: GitHubStandIn, req: Request, identity: str, match: re.Match[str]) -> Answer:
    repo = standin.repos.get(int(match.group("id")))
    if repo is None or not standin.can_see(repo, identity):
        return _error(404, NOT_FOUND, identity)
    return _repo_resource(standin, req, identity, repo, match.group("rest") or "")


def _public_events(standin: GitHubStandIn, req: Request, identity: str, match: re.Match[str]) -> Answer:
    return _events(standin, req, identity, [e for e in standin.events if e["public"]], "events", "/events")


def _user_events(standin: GitHubStandIn, req: Request, identity: str, match: re.Match[str]) -> Answer:
    """Events by a user: private ones too when the caller is that user (not on /public)."""
    login = match.group("login").lower()
    if login not in standin.users:
        return _error(404, NOT_FOUND, identity)
    own = identity == "token" and login == standin.user.login.lower() and not match.group("public")
    feed = [e for e in standin.events if e["actor"]["login"].lower() == login and (e["public"] or own)]
    return _events(standin, req, identity, feed, "events", req.path)


def _rate_limit(standin: GitHubStandIn, req: Request, identity: str, match: re.Match[str]) -> Answer:
    bucket = standin.buckets[identity]
    core = {"limit": bucket.limit, "used": bucket.used, "remaining": bucket.remaining, "reset": bucket.reset}
    return Answer(200, "rate_limit", standin.shapes.rate_limit(core), identity=identity, charged=False)


ROUTES = [
    (re.compile(r"^/user$"), _user),
    (re.compile(r"^/user/repos$"), _user_repos),
    (re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)(?P<rest>/.*)?$"), _repos),
    (re.compile(r"^/repositories/(?P<id>\d+)(?P<rest>/.*)?$"), _repositories),
    (re.compile(r"^/events$"), _public_events),
    (re.compile(r"^/users/(?P<login>[^/]+)/events(?P<public>/public)?$"), _user_events),
    (re.compile(r"^/rate_limit$"), _rate_limit),
]


def _identity(standin: GitHubStandIn, req: Request) -> tuple[str, Answer | None]:
    """Return `token` or `anonymous`, or a 401 for a token that is not the configured one."""
    value = req.headers.get("authorization")
    if not value:
        return "anonymous", None
    scheme, _, credential = value.partition(" ")
    if scheme.lower() in ("token", "bearer") and credential.strip() == standin.token:
        return "token", None
    return "anonymous", _error(401, BAD_CREDENTIALS, "anonymous")


def _primary_limit(standin: GitHubStandIn, req: Request, identity: str) -> Answer:
    """Answer 403 for a spent window (the docs' example body; not charged)."""
    body = recorded_response("primary")["body"]
    if identity == "token":
        body["message"] = f"API rate limit exceeded for user ID {standin.user.id}."
    else:
        body["message"] = body["message"].replace("xxx.xxx.xxx.xxx", req.client_ip)
    return Answer(403, "primary", body, identity=identity, charged=False)


def _fault_answer(fault: Fault, identity: str) -> Answer:
    if fault.kind == "secondary":
        headers = {} if fault.retry_after is None else {"Retry-After": str(math.ceil(fault.retry_after))}
        return Answer(
            fault.status, fault.template, fault.body, headers, identity, charged=False, rate_headers=fault.rate_headers
        )
    return Answer(fault.status, fault.template, fault.body, dict(fault.extra_headers), identity)


def _conditional(answer: Answer, req: Request) -> Answer:
    """Add ETag/Last-Modified; answer 304 (not charged) when the client's validators match."""
    answer.raw = encode_json(answer.body)
    if not answer.cacheable:
        return answer
    etag = weak_etag(answer.raw)
    answer.headers["ETag"] = etag
    if answer.last_modified:
        answer.headers["Last-Modified"] = http_date(answer.last_modified)
    inm, ims = req.headers.get("if-none-match"), req.headers.get("if-modified-since")
    fresh = etag_matches(inm, etag)
    if inm is None and ims and answer.last_modified:
        try:
            fresh = parsedate_to_datetime(answer.headers["Last-Modified"]) <= parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            fresh = False
    if not fresh:
        return answer
    kept = {k: v for k, v in answer.headers.items() if k in ("ETag", "Last-Modified", "X-Poll-Interval")}
    return Answer(304, "not_modified", None, kept, answer.identity, charged=False, raw=b"")


def _answer(standin: GitHubStandIn, req: Request, fault: Fault | None) -> Answer:
    identity, denied = _identity(standin, req)
    if denied is not None:
        return denied
    bucket = standin.buckets[identity]
    bucket.tick(time.time())
    if fault is not None and fault.kind == "primary":
        bucket.remaining, bucket.reset = 0, int(time.time() + fault.reset_in + 0.999)
    if req.path != "/rate_limit" and bucket.remaining == 0:
        return _primary_limit(standin, req, identity)
    if fault is not None and fault.kind in ("status", "secondary"):
        return _fault_answer(fault, identity)
    hooks = answer_hooks(standin, req.method, req.path, req.body, identity)
    if hooks is not None:
        status, body = hooks
        return Answer(status, "repo" if status < 400 else "error", body, identity=identity, raw=encode_json(body))
    for pattern, view in ROUTES:
        match = pattern.match(req.path)
        if match and req.method in ("GET", "HEAD"):
            return _conditional(view(standin, req, identity, match), req)
    return _error(404, NOT_FOUND, identity)


def respond(standin: GitHubStandIn, req: Request) -> Answer:
    """Decide the answer to an API request, charge it and snapshot the budget it reports."""
    fault = standin.take_fault(req.method, req.path)
    if fault is not None and fault.kind == "drop":
        return Answer(0, "error", charged=False, drop=True, fault=fault.name)
    with standin.lock:
        answer = _answer(standin, req, fault)
        if answer.status != 304 and answer.charged:
            standin.buckets[answer.identity].charge()
        answer.bucket = dataclasses.replace(standin.buckets[answer.identity])
    if fault is not None:
        answer.fault = fault.name
        answer.delay = fault.seconds if fault.kind in ("delay", "hold") else 0.0
        answer.gate = fault.gate
        if fault.kind == "malformed":
            raw = answer.raw if answer.raw is not None else encode_json(answer.body)
            answer.raw, answer.cacheable = raw[: max(len(raw) // 2, 1)], False
            answer.headers.pop("ETag", None)
    return answer
