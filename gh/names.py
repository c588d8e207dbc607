"""Parse and validate references to GitHub repositories: `owner` + `name`, or a clone/web URL.

Pure functions, no I/O. GitHub's naming rules, as its sign-up and new-repository forms enforce
them: a username "may only contain alphanumeric characters or single hyphens, and cannot begin
or end with a hyphen" (at most 39 characters); a repository name is 1 to 100 ASCII letters,
digits, `.`, `-` and `_`, and `.` and `..` are reserved. Messages never repeat the input, so
a URL with a credential in it is not echoed back.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

OWNER_MAX = 39
NAME_MAX = 100
URL_MAX = 500
# JSON-schema forms of the rules (no look-arounds, so any regex engine and Hypothesis can use them)
OWNER_PATTERN = r"^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$"
NAME_PATTERN = r"^([A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*|\.{3,})$"

_OWNER = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*", re.ASCII)
_NAME = re.compile(r"[A-Za-z0-9._-]+", re.ASCII)
_SCP = re.compile(r"(?P<user>[A-Za-z0-9_.-]+)@(?P<host>[A-Za-z0-9.-]+):(?P<path>[^:]*)", re.ASCII)
_GITHUB_COM_ALIASES = {"github.com": ("github.com", "www.github.com")}


@dataclass(frozen=True)
class RepoRef:
    """A syntactically valid repository reference."""

    owner: str
    name: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True)
class FieldProblem:
    """One invalid field and what is wrong with it."""

    field: str
    message: str


class RefError(ValueError):
    """A repository reference cannot be used; `problems` has one entry per field."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


def owner_problem(owner: str) -> str | None:
    """Return why `owner` is not a valid GitHub account name, or None."""
    if not owner:
        return "Must not be empty"
    if len(owner) > OWNER_MAX:
        return f"At most {OWNER_MAX} characters (GitHub's limit for account names)"
    if not _OWNER.fullmatch(owner):
        return "Only ASCII letters, digits and single hyphens, not at the start or end (GitHub's rule)"
    return None


def name_problem(name: str) -> str | None:
    """Return why `name` is not a valid GitHub repository name, or None."""
    if not name:
        return "Must not be empty"
    if len(name) > NAME_MAX:
        return f"At most {NAME_MAX} characters (GitHub's limit for repository names)"
    if not _NAME.fullmatch(name):
        return "Only ASCII letters, digits, '.', '-' and '_' (GitHub's rule)"
    if name in (".", ".."):
        return "'.' and '..' are reserved names"
    return None


def check_pair(owner: str, name: str, *, owner_field: str = "owner", name_field: str = "repo_name") -> RepoRef:
    """Validate an owner and a repository name; raise RefError naming each bad field."""
    problems = [
        FieldProblem(field, message)
        for field, message in ((owner_field, owner_problem(owner)), (name_field, name_problem(name)))
        if message
    ]
    if problems:
        raise RefError(problems)
    return RepoRef(owner, name)


def accepted_hosts(git_host: str, api_url: str) -> set[str]:
    """Return the lower-case `host[:port]`s whose URLs name repositories of the configured GitHub."""
    hosts = {git_host.lower()} if git_host else set()
    api = urlsplit(api_url)
    if api.netloc and api.hostname != "api.github.com":
        hosts.add(api.netloc.lower())  # GitHub Enterprise serves web, git and /api/v3 on one host
    for host in list(hosts):
        hosts.update(_GITHUB_COM_ALIASES.get(host, ()))
    return hosts


def _path_ref(path: str, field: str) -> RepoRef:
    """Turn `owner/name`, `owner/name.git` or `owner/name/` (leading `/` allowed) into a RepoRef."""
    parts = path.strip("/").split("/") if path.strip("/") else []
    if path.endswith("//") or len(parts) != 2:
        raise RefError([FieldProblem(field, "The URL must name exactly one repository: <host>/<owner>/<repository>")])
    owner, name = parts
    if name.endswith(".git") and len(name) > len(".git"):
        name = name[: -len(".git")]
    problems = [p for p in (owner_problem(owner), name_problem(name)) if p]
    if problems:
        raise RefError([FieldProblem(field, f"The URL's owner or repository name is invalid: {problems[0]}")])
    return RepoRef(owner, name)


def url_host(text: str) -> str | None:
    """Return the lower-case `host[:port]` a repository URL (or `user@host:path`) names, None if none."""
    text = text.strip()
    scp = _SCP.fullmatch(text)
    if scp and "://" not in text:
        return scp.group("host").lower()
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return None
    return host.lower() or None


def parse_url(url: str, hosts: Iterable[str], *, field: str = "url") -> RepoRef:
    """Parse `https://<host>/o/r[.git][/]`, `ssh://git@<host>/o/r.git` or `git@<host>:o/r.git`."""
    text = url.strip()
    allowed = {h.lower() for h in hosts}
    where = ", ".join(sorted(allowed)) or "the configured GitHub host"
    if not text:
        raise RefError([FieldProblem(field, "Must not be empty")])
    if len(text) > URL_MAX:
        raise RefError([FieldProblem(field, f"At most {URL_MAX} characters")])
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise RefError([FieldProblem(field, "A URL cannot contain spaces or control characters")])
    scp = _SCP.fullmatch(text)
    if scp and "://" not in text:
        if scp.group("host").lower() not in allowed:
            raise RefError([FieldProblem(field, f"Only repositories on {where} can be tracked")])
        return _path_ref(scp.group("path"), field)
    return _parse_hierarchical(text, allowed, where, field)


def _parse_hierarchical(text: str, allowed: set[str], where: str, field: str) -> RepoRef:
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    except ValueError:
        raise RefError([FieldProblem(field, "Not a valid URL")]) from None
    if parts.scheme.lower() not in ("https", "http", "ssh", "git"):
        raise RefError([FieldProblem(field, "Use an https:// URL or git@<host>:<owner>/<repository>.git")])
    if parts.password is not None or (parts.username is not None and parts.scheme.lower() in ("https", "http")):
        raise RefError([FieldProblem(field, "The URL must not contain credentials")])
    if host.lower() not in allowed:
        raise RefError([FieldProblem(field, f"Only repositories on {where} can be tracked")])
    return _path_ref(parts.path, field)


# -- any git host (issue 14) -------------------------------------------------------------------

LOCAL_HOST = "local"
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+", re.ASCII)


@dataclass(frozen=True)
class GitLocation:
    """A repository on any git host (or a local path): where to clone it and how to name it."""

    host: str  # lower-case host[:port], or "local"
    namespace: str  # the path before the repository name ("group/subgroup"), or the parent directory
    name: str
    clone_url: str

    @property
    def key(self) -> str:
        """The case-insensitive identity of the repository among all tracked ones."""
        if self.host == LOCAL_HOST:
            digest = hashlib.sha256(self.clone_url.encode()).hexdigest()[:16]
            return f"local:{digest}/{self.name}".lower()
        return f"{self.host}/{self.namespace}/{self.name}".lower()


def _git_problem(field: str, message: str) -> RefError:
    return RefError([FieldProblem(field, message)])


def parse_git_location(text: str, *, allow_local: bool, field: str = "url") -> GitLocation:
    """Parse a plain git URL (https, http, ssh, git, `user@host:path`) or, when allowed, a local path.

    Credentials in the URL are refused (they come from configuration, per host).
    """
    text = text.strip()
    if not text or len(text) > URL_MAX or any(ch.isspace() or ord(ch) < 0x20 for ch in text):
        raise _git_problem(field, f"Give a git URL of at most {URL_MAX} characters, without spaces")
    scp = _SCP.fullmatch(text)
    if scp and "://" not in text:
        return _remote(scp.group("host").lower(), scp.group("path"), text, field)
    if text.startswith(("/", "file://")):
        if not allow_local:
            raise _git_problem(field, "Local repositories are not allowed (ALLOW_LOCAL_REPOSITORIES)")
        path = PurePosixPath(text.removeprefix("file://"))
        if not path.is_absolute() or ".." in path.parts or not path.name:
            raise _git_problem(field, "A local repository is an absolute path without '..'")
        name = path.name.removesuffix(".git") or path.name
        return GitLocation(LOCAL_HOST, path.parent.name or "/", name, f"file://{path}")
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    except ValueError:
        raise _git_problem(field, "Not a valid URL") from None
    if parts.scheme.lower() not in ("https", "http", "ssh", "git") or not parts.hostname:
        raise _git_problem(field, "Use an https://, http://, ssh:// or git:// URL (or user@host:path)")
    if parts.password is not None or (parts.username is not None and parts.scheme.lower() in ("https", "http")):
        raise _git_problem(field, "The URL must not contain credentials; configure them per host (GIT_HOST_TOKENS)")
    if parts.query or parts.fragment:
        raise _git_problem(field, "A git URL has no query or fragment")
    return _remote(host.lower(), parts.path, text, field)


def _remote(host: str, path: str, url: str, field: str) -> GitLocation:
    segments = [s for s in path.strip("/").split("/") if s]
    if len(segments) < 2 or not all(_SEGMENT.fullmatch(s) and s not in (".", "..") for s in segments):
        raise _git_problem(field, "The URL must name a repository: <host>/<namespace>/<repository>")
    name = segments[-1].removesuffix(".git") or segments[-1]
    namespace = "/".join(segments[:-1])
    if len(namespace) > OWNER_MAX or len(name) > NAME_MAX:
        raise _git_problem(field, f"Namespace at most {OWNER_MAX} and repository name at most {NAME_MAX} characters")
    location = GitLocation(host, namespace, name, url)
    if len(location.key) > 140:
        raise _git_problem(field, "The repository's host and path are too long (at most 140 characters)")
    return location
