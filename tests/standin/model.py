"""State objects of the GitHub stand-in: accounts, repositories, rate windows, logged requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.standin.faults import Fault

DEFAULT_LOGIN = "octo-owner"
DEFAULT_USER_ID = 1001
DEFAULT_TOKEN = "ghp_" + "StandInTestToken0123456789abcdefghij"  # ghp_ + 36 characters, a test value
TOKEN_LIMIT, ANONYMOUS_LIMIT, WINDOW = 5000, 60, 3600


def iso(value: datetime | str | None) -> str | None:
    """Return GitHub's timestamp format (`2026-01-08T11:05:32Z`) for a datetime or ISO string."""
    if value is None or isinstance(value, str):
        return value
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_iso() -> str:
    """Return the current time in GitHub's timestamp format."""
    return iso(datetime.now(UTC)) or ""


@dataclass
class User:
    """A GitHub account known to the stand-in."""

    login: str
    id: int
    type: str = "User"
    name: str | None = None
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


@dataclass
class Repo:
    """A repository served by the stand-in; field names are GitHub's JSON names."""

    owner: str
    name: str
    id: int
    private: bool = False
    fork: bool = False
    default_branch: str = "main"
    clone_url: str | None = None  # default: the stand-in's own http URL, served when git_dir is set
    git_dir: Path | None = None  # a local repository served by `git http-backend`
    allow_filter: bool = True  # False: the server refuses partial clone filters
    size: int = 0
    stargazers_count: int = 0
    forks_count: int = 0
    watchers_count: int | None = None  # GitHub's watchers_count mirrors stargazers_count
    subscribers_count: int = 0
    open_issues_count: int = 0
    description: str | None = None
    homepage: str | None = None
    topics: list[str] = field(default_factory=list)
    archived: bool = False
    license: dict[str, Any] | None = None
    languages: dict[str, int] = field(default_factory=dict)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    pushed_at: str | None = None
    member: str | None = None  # "collaborator" / "organization_member": the token user's tie if not owner
    extra: dict[str, Any] = field(default_factory=dict)  # more top-level JSON fields, set verbatim

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def json_fields(self, base_url: str, permissions: dict[str, bool] | None) -> dict[str, Any]:
        """Return the top-level JSON fields GitHub derives from this repository's state."""
        host = base_url.split("://", 1)[-1]
        language = max(self.languages, key=lambda k: self.languages[k]) if self.languages else None
        watchers = self.stargazers_count if self.watchers_count is None else self.watchers_count
        fields: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "private": self.private,
            "description": self.description,
            "fork": self.fork,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "pushed_at": self.pushed_at,
            "git_url": f"git://{host}/{self.full_name}.git",
            "ssh_url": f"git@{host.split(':')[0]}:{self.full_name}.git",
            "clone_url": self.clone_url or f"{base_url}/{self.full_name}.git",
            "svn_url": f"{base_url}/{self.full_name}",
            "homepage": self.homepage,
            "size": self.size,
            "stargazers_count": self.stargazers_count,
            "watchers_count": watchers,
            "language": language,
            "forks_count": self.forks_count,
            "archived": self.archived,
            "open_issues_count": self.open_issues_count,
            "license": self.license,
            "topics": list(self.topics),
            "visibility": "private" if self.private else "public",
            "forks": self.forks_count,
            "open_issues": self.open_issues_count,
            "watchers": watchers,
            "default_branch": self.default_branch,
            "permissions": permissions,
            "network_count": self.forks_count,
            "subscribers_count": self.subscribers_count,
        }
        return {**fields, **self.extra}


@dataclass
class Bucket:
    """One primary rate-limit window (per token, and one for unauthenticated callers)."""

    limit: int
    remaining: int
    reset: int  # epoch seconds
    used: int = 0

    def tick(self, now: float) -> None:
        """Start a new window once the reset time has passed."""
        if now >= self.reset:
            self.remaining, self.used, self.reset = self.limit, 0, int(now) + WINDOW

    def charge(self) -> None:
        """Count one request."""
        self.remaining = max(self.remaining - 1, 0)
        self.used += 1


@dataclass(frozen=True)
class LoggedRequest:
    """One request the stand-in received; header names are lower-case."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int | None  # None: the connection was dropped
    charged: bool
    fault: str | None = None

    @property
    def if_none_match(self) -> str | None:
        return self.headers.get("if-none-match")

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


@dataclass
class Rule:
    """A queued fault: method, path glob, how many times (None: until cleared)."""

    method: str
    pattern: str
    fault: Fault
    times: int | None
