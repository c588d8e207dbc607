"""A GitLab stand-in served over real HTTP on 127.0.0.1: the Projects API and git smart HTTP.

Shaped on GitLab's documented answers:

- `GET /api/v4/projects/:id` where `:id` is a numeric id or the URL-encoded path (`team%2Fproj`);
  the body carries the "Get a single project" fields (id, path_with_namespace, description,
  default_branch, star_count, forks_count, visibility, web_url, http_url_to_repo,
  last_activity_at, archived, namespace, …). A project that is not public is a
  `404 {"message": "404 Project Not Found"}` without a valid token; a wrong token is
  `401 {"message": "401 Unauthorized"}`. Tokens come as `PRIVATE-TOKEN` or `Authorization: Bearer`.
- Every API answer has an `ETag` (weak, of the body) and honours `If-None-Match` with a bodiless 304,
  and carries `RateLimit-Limit`, `RateLimit-Observed`, `RateLimit-Remaining`, `RateLimit-Reset`
  (Unix time) and `RateLimit-ResetTime` (HTTP date). An injected rate limit answers
  `429 Retry later` with `Retry-After` (GitLab's Rack::Attack throttle answer).
- Git at `/<path>.git/...` through `git http-backend`: public projects clone anonymously, others
  need HTTP Basic whose password is the token (any user name, as GitLab accepts personal tokens).

    gl = GitLabStandIn.start(token="glpat-…")
    gl.add_project("team/proj", git_dir=bare, star_count=3, visibility="private")
    gl.update_project("team/proj", star_count=4)
    gl.inject_rate_limit(times=1, retry_after=3600)
    gl.api_requests(), gl.requests
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.standin.git_repos import basic_password, run_http_backend

API_PROJECT = re.compile(r"^/api/v4/projects/(?P<id>[^/]+)$")
GIT_PATH = re.compile(r"^/(?P<path>[^?]+?)\.git(?P<rest>/.*)$")
RATE_LIMIT = 2000  # gitlab.com: authenticated API traffic per user and minute
WINDOW = 60


@dataclass
class GitLabProject:
    """One project; field names are GitLab's."""

    path_with_namespace: str
    id: int
    description: str | None = None
    default_branch: str | None = "main"
    star_count: int = 0
    forks_count: int = 0
    visibility: str = "public"
    archived: bool = False
    last_activity_at: str = "2026-11-30T10:00:00.000Z"
    created_at: str = "2026-01-05T09:30:00.000Z"
    git_dir: Path | None = None

    def json(self, base_url: str) -> dict[str, Any]:
        namespace, _, path = self.path_with_namespace.rpartition("/")
        web = f"{base_url}/{self.path_with_namespace}"
        return {
            "id": self.id,
            "description": self.description,
            "name": path,
            "name_with_namespace": f"{namespace} / {path}",
            "path": path,
            "path_with_namespace": self.path_with_namespace,
            "created_at": self.created_at,
            "default_branch": self.default_branch,
            "tag_list": [],
            "topics": [],
            "ssh_url_to_repo": f"git@{urlsplit(base_url).netloc}:{self.path_with_namespace}.git",
            "http_url_to_repo": f"{web}.git",
            "web_url": web,
            "readme_url": f"{web}/-/blob/{self.default_branch}/README.md" if self.default_branch else None,
            "forks_count": self.forks_count,
            "avatar_url": None,
            "star_count": self.star_count,
            "last_activity_at": self.last_activity_at,
            "namespace": {
                "id": self.id + 100,
                "name": namespace,
                "path": namespace.rpartition("/")[2],
                "kind": "group",
                "full_path": namespace,
                "parent_id": None,
                "avatar_url": None,
                "web_url": f"{base_url}/groups/{namespace}",
            },
            "visibility": self.visibility,
            "archived": self.archived,
            "empty_repo": self.git_dir is None,
            "open_issues_count": 0,
        }


@dataclass(frozen=True)
class Seen:
    """One request the stand-in answered."""

    method: str
    path: str
    headers: dict[str, str]
    status: int


@dataclass
class _State:
    projects: dict[str, GitLabProject] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    rate_limited: list[int] = field(default_factory=list)  # Retry-After of the next 429s
    redirect_to: str | None = None
    remaining: int = RATE_LIMIT
    reset: int = 0


class GitLabStandIn:
    """GitLab's Projects API and git smart HTTP for projects added by the test."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.lock = threading.Lock()
        self.state = _State(reset=int(time.time()) + WINDOW)
        self.errors: list[str] = []
        self._ids = 27_000_000
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    @classmethod
    def start(cls, token: str) -> GitLabStandIn:
        standin = cls(token)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.standin = standin  # type: ignore[attr-defined]
        standin._server = server
        standin.base_url = f"http://127.0.0.1:{server.server_address[1]}"
        standin._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        standin._thread.start()
        return standin

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def host(self) -> str:
        """The `host:port` of this stand-in (GITLAB_HOSTS, GIT_HOST_TOKENS)."""
        return urlsplit(self.base_url).netloc

    def add_project(self, path: str, **fields: Any) -> GitLabProject:
        with self.lock:
            self._ids += 1
            project = GitLabProject(path_with_namespace=path, id=self._ids, **fields)
            self.state.projects[path.lower()] = project
            return project

    def update_project(self, path: str, **fields: Any) -> None:
        with self.lock:
            project = self.state.projects[path.lower()]
            for name, value in fields.items():
                setattr(project, name, value)

    def git_url(self, path: str) -> str:
        return f"{self.base_url}/{path}.git"

    def inject_rate_limit(self, *, times: int = 1, retry_after: int = 60) -> None:
        """Answer the next `times` API requests with GitLab's 429."""
        with self.lock:
            self.state.rate_limited.extend([retry_after] * times)

    def redirect_api(self, location: str | None) -> None:
        """Answer API requests with a 301 to `location` (None: stop)."""
        with self.lock:
            self.state.redirect_to = location

    @property
    def requests(self) -> list[Seen]:
        with self.lock:
            return list(self.state.requests)

    def api_requests(self) -> list[Seen]:
        return [r for r in self.requests if r.path.startswith("/api/")]

    # -- answers ------------------------------------------------------------------------------

    def _find(self, ident: str) -> GitLabProject | None:
        if ident.isdigit():
            return next((p for p in self.state.projects.values() if p.id == int(ident)), None)
        return self.state.projects.get(unquote(ident).lower())

    def _rate_headers(self) -> list[tuple[str, str]]:
        now = int(time.time())
        if now >= self.state.reset:
            self.state.reset, self.state.remaining = now + WINDOW, RATE_LIMIT
        observed = RATE_LIMIT - self.state.remaining
        return [
            ("RateLimit-Name", "throttle_authenticated_api"),
            ("RateLimit-Limit", str(RATE_LIMIT)),
            ("RateLimit-Observed", str(observed)),
            ("RateLimit-Remaining", str(self.state.remaining)),
            ("RateLimit-Reset", str(self.state.reset)),
            ("RateLimit-ResetTime", formatdate(self.state.reset, usegmt=True)),
        ]

    def api(self, raw_path: str, headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        """Answer one Projects API request."""
        match = API_PROJECT.match(raw_path)
        with self.lock:
            if self.state.rate_limited:
                retry_after = self.state.rate_limited.pop(0)  # the throttle's window ends then
                self.state.remaining, self.state.reset = 0, int(time.time()) + retry_after
                rate = [*self._rate_headers(), ("Retry-After", str(retry_after))]
                return 429, [("Content-Type", "text/plain"), *rate], b"Retry later\n"
            self.state.remaining = max(self.state.remaining - 1, 0)
            rate = self._rate_headers()
            if self.state.redirect_to is not None:
                return 301, [("Location", self.state.redirect_to), *rate], b""
            given = headers.get("private-token") or _bearer(headers.get("authorization"))
            if given is not None and given != self.token:
                return _json(401, {"message": "401 Unauthorized"}, rate)
            project = self._find(match.group("id")) if match else None
            if project is None or (project.visibility != "public" and given != self.token):
                return _json(404, {"message": "404 Project Not Found"}, rate)
            body = json.dumps(project.json(self.base_url)).encode()
        etag = f'W/"{hashlib.md5(body).hexdigest()}"'  # noqa: S324 - a validator, not security
        cache = [("Cache-Control", "max-age=0, private, must-revalidate"), ("ETag", etag), ("Vary", "Origin")]
        if headers.get("if-none-match") == etag:
            return 304, [*cache, *rate], b""
        return 200, [("Content-Type", "application/json"), *cache, *rate], body

    def git(self, path: str, rest: str, method: str, query: str, headers: dict[str, str], body: bytes) -> Any:
        with self.lock:
            project = self.state.projects.get(path.lower())
        if project is None or project.git_dir is None:
            return 404, [("Content-Type", "text/plain")], b"Not Found\n"
        if project.visibility != "public" and basic_password(headers.get("authorization")) != self.token:
            return 401, [("WWW-Authenticate", 'Basic realm="GitLab"'), ("Content-Type", "text/plain")], b""
        return run_http_backend(project.git_dir, rest, method, query, headers, body)

    def record(self, seen: Seen) -> None:
        with self.lock:
            self.state.requests.append(seen)


def _bearer(value: str | None) -> str | None:
    if value and value.lower().startswith("bearer "):
        return value[len("bearer ") :].strip()
    return None


def _json(status: int, body: dict[str, Any], extra: list[tuple[str, str]]) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", "application/json"), *extra], json.dumps(body).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: `requests` is the record."""

    def _body(self, headers: dict[str, str]) -> bytes:
        if "chunked" not in headers.get("transfer-encoding", "").lower():
            length = int(headers.get("content-length") or 0)
            return self.rfile.read(length) if length else b""
        parts = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        return b"".join(parts)

    def _handle(self) -> None:
        standin: GitLabStandIn = self.server.standin  # type: ignore[attr-defined]
        split = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        body = self._body(headers)
        try:
            git = GIT_PATH.match(split.path)
            if git:
                status, pairs, raw = standin.git(git["path"], git["rest"], self.command, split.query, headers, body)
            else:
                status, pairs, raw = standin.api(split.path, headers)
        except Exception as exc:  # a stand-in bug: the test asserts `errors` is empty
            standin.errors.append(repr(exc))
            status, pairs, raw = 500, [("Content-Type", "text/plain")], b"stand-in error\n"
        standin.record(Seen(self.command, split.path, headers, status))
        self.send_response_only(status, HTTPStatus(status).phrase)
        self.send_header("Date", formatdate(usegmt=True))
        for name, value in pairs:
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(0 if status == 304 else len(raw)))
        self.end_headers()
        if raw and status != 304 and self.command != "HEAD":
            self.wfile.write(raw)

    do_GET = do_POST = do_HEAD = _handle
