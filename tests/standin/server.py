"""A GitHub REST API (and git smart-HTTP) stand-in served over real HTTP on 127.0.0.1.

Start one per test (the `github` fixture of tests/fixtures_github.py does it), point the code
under test at `standin.api_url` with `standin.token`, and assert on what reached the "server":

    gh = GitHubStandIn.start()                       # user octo-owner (id 1001), token DEFAULT_TOKEN
    repo = gh.add_repo("alpha", stargazers_count=3, languages={"Python": 1200})
    gh.add_repo("octo-owner/beta", clone_url="file:///tmp/beta.git")   # any clone URL
    gh.add_repo("gamma", git_dir=bare_repo_path)     # served by `git http-backend` at repo.clone_url
    gh.update_repo("octo-owner/alpha", stargazers_count=4)
    gh.rename_repo("octo-owner/alpha", "octo-owner/alpha2")           # old name -> 301
    gh.add_event("PushEvent", "octo-owner/alpha")                     # feeds derive from events
    gh.inject("/repos/octo-owner/alpha", faults.server_error(), times=2)
    gh.set_rate(remaining=0, reset_in=1.5)                           # primary limit until reset
    gh.charged_calls(), gh.uncharged_calls(), gh.calls("/user/repos"), gh.reset_log()
    gh.stop()

Faults: tests.standin.faults (not_found, unauthorized, forbidden, rate_limit_primary,
rate_limit_secondary, too_many_requests, server_error, delay, hold, drop, malformed_json).
Answers copy the recorded shapes of tests/standin/recordings/ (tests/standin/shapes.py); the rules
(Link, ETag/304, rate limits, auth) are in routes.py, HTTP framing and git in
http.py / git_repos.py, the state classes in model.py.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import threading
import time
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.standin.faults import Fault
from tests.standin.http import make_server
from tests.standin.model import (
    ANONYMOUS_LIMIT,
    DEFAULT_LOGIN,
    DEFAULT_TOKEN,
    DEFAULT_USER_ID,
    TOKEN_LIMIT,
    WINDOW,
    Bucket,
    LoggedRequest,
    Repo,
    Rule,
    User,
    iso,
    now_iso,
)
from tests.standin.shapes import Shapes


class GitHubStandIn:
    """GitHub's REST API for one authenticated user, with fault injection and a request log."""

    def __init__(self, *, login: str, user_id: int, token: str, api_prefix: str = "") -> None:
        self.token = token
        self.api_prefix = api_prefix.rstrip("/")
        self.poll_interval = 60
        self.git_anonymous_public = False  # True: public repos clone without credentials
        self.errors: list[str] = []  # stand-in bugs seen while answering (the fixture asserts none)
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.repos: dict[int, Repo] = {}
        self.moved: dict[str, int] = {}
        self.events: list[dict[str, Any]] = []  # newest first
        self.hooks: dict[int, list[dict[str, Any]]] = {}  # repository id → its webhooks (tests/standin/hooks.py)
        reset = int(time.time()) + WINDOW
        self.buckets = {
            "token": Bucket(TOKEN_LIMIT, TOKEN_LIMIT, reset),
            "anonymous": Bucket(ANONYMOUS_LIMIT, ANONYMOUS_LIMIT, reset),
        }
        self._rules: list[Rule] = []
        self._log: list[LoggedRequest] = []
        self._ids = {"repo": 700_000, "user": 5_000, "event": 40_000_000_000, "hook": 470_000_000}
        self.user = self.add_user(login, id=user_id)
        self.stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        self.shapes = Shapes("", "")

    # -- lifecycle ----------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        *,
        login: str = DEFAULT_LOGIN,
        user_id: int = DEFAULT_USER_ID,
        token: str = DEFAULT_TOKEN,
        api_prefix: str = "",
    ) -> GitHubStandIn:
        """Start a stand-in on a free port of 127.0.0.1 (`api_prefix="/api/v3"` mimics GitHub Enterprise)."""
        standin = cls(login=login, user_id=user_id, token=token, api_prefix=api_prefix)
        standin._server = make_server(standin)
        standin.base_url = f"http://127.0.0.1:{standin._server.server_address[1]}"
        standin.shapes = Shapes(standin.api_url, standin.base_url)
        standin._thread = threading.Thread(target=standin._server.serve_forever, kwargs={"poll_interval": 0.01})
        standin._thread.daemon = True
        standin._thread.start()
        return standin

    def stop(self) -> None:
        """Stop serving and close every connection."""
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            close_all = getattr(self._server, "close_connections", None)
            if close_all:
                close_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> GitHubStandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        """Return the API base URL (GITHUB_API_URL)."""
        return self.base_url + self.api_prefix

    def url(self, path: str) -> str:
        """Return the absolute URL of an API path."""
        return self.api_url + path

    def env(self) -> dict[str, str]:
        """Return the environment variables that point the service at this stand-in."""
        return {"GITHUB_API_URL": self.api_url, "GITHUB_ACCESS_TOKEN": self.token}

    # -- state --------------------------------------------------------------------------------

    def next_hook_id(self) -> int:
        return self._next_id("hook")

    def _next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def add_user(self, login: str, *, id: int | None = None, type: str = "User", name: str | None = None) -> User:
        """Register an account (owners and actors are registered on first use too)."""
        with self.lock:
            user = User(login=login, id=id if id is not None else self._next_id("user"), type=type, name=name)
            self.users[login.lower()] = user
            return user

    def _owner(self, login: str) -> User:
        return self.users.get(login.lower()) or self.add_user(login)

    def _split(self, full_or_name: str) -> tuple[str, str]:
        owner, _, name = full_or_name.rpartition("/")
        return owner or self.user.login, name

    def add_repo(self, name: str, **fields: Any) -> Repo:
        """Add a repository; `name` is `repo` (owned by the token user) or `owner/repo`; see `Repo`."""
        owner, repo_name = self._split(name)
        for key in ("created_at", "updated_at", "pushed_at"):
            if key in fields:
                fields[key] = iso(fields[key])
        if fields.get("git_dir") is not None:
            fields["git_dir"] = Path(fields["git_dir"])
        with self.lock:
            repo = Repo(
                owner=self._owner(owner).login,
                name=repo_name,
                id=fields.pop("id", None) or self._next_id("repo"),
                **fields,
            )
            if repo.pushed_at is None:
                repo.pushed_at = repo.created_at
            if repo.clone_url is None:
                repo.clone_url = self.git_url(repo)
            self.repos[repo.id] = repo
            self.moved.pop(repo.full_name.lower(), None)
            return repo

    def git_url(self, repo: Repo) -> str:
        """Return the stand-in's own clone URL of a repository (served when it has a `git_dir`)."""
        return f"{self.base_url}/{repo.full_name}.git"

    def repo(self, full_name: str) -> Repo:
        """Return a repository by `owner/name` (case-insensitive)."""
        found = self.find_repo(*self._split(full_name))
        if found is None:
            raise KeyError(full_name)
        return found

    def find_repo(self, owner: str, name: str) -> Repo | None:
        """Return the repository with this owner and name, if any (GitHub ignores case)."""
        key = f"{owner}/{name}".lower()
        with self.lock:
            return next((r for r in self.repos.values() if r.full_name.lower() == key), None)

    def update_repo(self, full_name: str, **changes: Any) -> Repo:
        """Change fields of a repository; `updated_at` moves to now unless given."""
        names = {f.name for f in dataclasses.fields(Repo)} - {"owner", "name", "id"}
        unknown = set(changes) - names
        if unknown:
            raise TypeError(f"unknown repository fields: {sorted(unknown)}")
        with self.lock:
            repo = self.repo(full_name)
            changes.setdefault("updated_at", now_iso())
            for key, value in changes.items():
                setattr(repo, key, iso(value) if key.endswith("_at") else value)
            return repo

    def rename_repo(self, full_name: str, new_full_name: str) -> Repo:
        """Rename or transfer a repository: its old name answers 301 to /repositories/{id}."""
        with self.lock:
            repo = self.repo(full_name)
            self.moved[repo.full_name.lower()] = repo.id
            own_url = repo.clone_url == self.git_url(repo)
            repo.owner, repo.name = self._split(new_full_name)
            repo.owner = self._owner(repo.owner).login
            if own_url:
                repo.clone_url = self.git_url(repo)
            repo.updated_at = now_iso()
            self.moved.pop(repo.full_name.lower(), None)
            return repo

    def remove_repo(self, full_name: str) -> None:
        """Delete a repository (404 afterwards)."""
        with self.lock:
            del self.repos[self.repo(full_name).id]

    def add_event(
        self,
        type: str,
        repo: str | Repo,
        *,
        actor: str | None = None,
        payload: dict[str, Any] | None = None,
        created_at: datetime | str | None = None,
        public: bool | None = None,
    ) -> dict[str, Any]:
        """Add an event; it shows in /events (if public), the repo's, and the actor's feeds."""
        with self.lock:
            target = repo if isinstance(repo, Repo) else self.repo(repo)
            event_id = self._next_id("event")
            repo_body = self.repo_body(target, "token", listing=False)
            fields = {
                "id": event_id,
                "type": type,
                "payload": payload if payload is not None else self.shapes.default_payload(type, repo_body, event_id),
                "public": (not target.private) if public is None else public,
                "created_at": iso(created_at) or now_iso(),
            }
            body = self.shapes.event(fields, repo_body, self.user_object(actor or self.user.login))
            self.events.append(body)
            self.events.sort(key=lambda e: (e["created_at"], int(e["id"])), reverse=True)
            return body

    def add_events(self, count: int, type: str, repo: str | Repo, **kwargs: Any) -> list[dict[str, Any]]:
        """Add `count` events one second apart, the last one now."""
        start = time.time() - count
        return [
            self.add_event(type, repo, created_at=datetime.fromtimestamp(start + i + 1, UTC), **kwargs)
            for i in range(count)
        ]

    # -- views used by the request handler ------------------------------------------------------

    def user_object(self, login: str) -> dict[str, Any]:
        """Return the simple user object of an account."""
        user = self._owner(login)
        return self.shapes.simple_user(user.login, user.id, user.type)

    def can_see(self, repo: Repo, identity: str) -> bool:
        """Tell whether a caller (`token` or `anonymous`) may see a repository."""
        if not repo.private:
            return True
        return identity == "token" and (repo.owner.lower() == self.user.login.lower() or repo.member is not None)

    def permissions(self, repo: Repo, identity: str) -> dict[str, bool] | None:
        """Return the `permissions` object GitHub adds for an authenticated caller."""
        if identity != "token":
            return None
        owner = repo.owner.lower() == self.user.login.lower()
        push = owner or repo.member is not None
        return {"admin": owner, "maintain": owner, "push": push, "triage": push, "pull": True}

    def repo_body(self, repo: Repo, identity: str, *, listing: bool) -> dict[str, Any]:
        """Return the JSON body of a repository as this caller sees it."""
        fields = repo.json_fields(self.base_url, self.permissions(repo, identity))
        return self.shapes.repository(fields, self.user_object(repo.owner), listing=listing)

    # -- rate limits ----------------------------------------------------------------------------

    def rate(self, anonymous: bool = False) -> Bucket:
        """Return a copy of the token's (or the unauthenticated) rate-limit window."""
        with self.lock:
            bucket = self.buckets["anonymous" if anonymous else "token"]
            bucket.tick(time.time())
            return dataclasses.replace(bucket)

    def set_rate(
        self,
        *,
        remaining: int | None = None,
        limit: int | None = None,
        reset_in: float | None = None,
        anonymous: bool = False,
    ) -> None:
        """Set the budget; `reset_in` seconds from now (rounded up to GitHub's epoch seconds)."""
        with self.lock:
            bucket = self.buckets["anonymous" if anonymous else "token"]
            bucket.tick(time.time())
            if limit is not None:
                bucket.limit = limit
            if remaining is not None:
                bucket.remaining = remaining
                bucket.used = max(bucket.limit - remaining, 0)
            if reset_in is not None:
                bucket.reset = int(time.time() + reset_in + 0.999)

    def refill(self, anonymous: bool = False) -> None:
        """Start a fresh window now (full budget, new reset)."""
        with self.lock:
            bucket = self.buckets["anonymous" if anonymous else "token"]
            bucket.remaining, bucket.used, bucket.reset = bucket.limit, 0, int(time.time()) + WINDOW

    # -- faults ---------------------------------------------------------------------------------

    def inject(self, pattern: str, fault: Fault, *, method: str = "GET", times: int | None = 1) -> None:
        """Answer requests whose path (no query, no api prefix) matches the glob with `fault`.

        `times=None` keeps the fault until `clear_faults()`; rules apply in the order added.
        """
        with self.lock:
            self._rules.append(Rule(method.upper(), pattern, fault, times))

    def wait_for(self, gate: threading.Event, limit: float) -> None:
        """Block a held answer until the test sets `gate`, the stand-in stops, or `limit` s pass."""
        deadline = time.monotonic() + limit
        while not gate.wait(0.1) and not self.stopping.is_set() and time.monotonic() < deadline:
            pass

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self.lock:
            self._rules.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        """Consume the first fault queued for this request, if any."""
        with self.lock:
            for rule in self._rules:
                if rule.method in (method, "*") and fnmatch.fnmatchcase(path, rule.pattern):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self._rules.remove(rule)
                    return rule.fault
            return None

    # -- request log ----------------------------------------------------------------------------

    def record(self, entry: LoggedRequest) -> None:
        """Append one request to the log."""
        with self.lock:
            self._log.append(entry)

    @property
    def log(self) -> list[LoggedRequest]:
        """Return every request received so far, in order."""
        with self.lock:
            return list(self._log)

    def calls(self, path_prefix: str = "", method: str | None = None) -> list[LoggedRequest]:
        """Return the requests whose path starts with `path_prefix` (and of `method`)."""
        return [e for e in self.log if e.path.startswith(path_prefix) and (method is None or e.method == method)]

    def charged_calls(self) -> list[LoggedRequest]:
        """Return the requests that cost rate-limit budget."""
        return [e for e in self.log if e.charged]

    def uncharged_calls(self) -> list[LoggedRequest]:
        """Return the requests that did not (304s, rate-limit answers, /rate_limit, git)."""
        return [e for e in self.log if not e.charged]

    def reset_log(self) -> None:
        """Forget the requests received so far."""
        with self.lock:
            self._log.clear()
