"""Build git repositories with scripted, deterministic histories and know their metrics without git.

Typical use::

    repo = RepoBuilder(tmp_path / "demo")
    repo.write("src/app.py", "print('hi')\\n")
    first = repo.commit("add app", at=datetime(2024, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5))))
    repo.write("src/app.py", "print('hi')\\nprint('bye')\\n")
    second = repo.commit("say bye", author=BOB)
    url = repo.publish()                     # a bare repo, as a file:// URL
    assert second.additions == 1 and expected_commits(repo.history()) == 2

Every commit is recorded as a ScriptedCommit: its identities, dates (as scripted, any offset) and,
per path, the lines added and deleted computed from the old and new contents by a longest common
subsequence (what git's minimal diff reports for the small edits tests make), or None for binary
files. Merges record no changes (git prints no numstat for them).
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.gitexpect import (
    ALICE,
    FileChange,
    Identity,
    ScriptedCommit,
    line_delta,
)

DEFAULT_START = datetime(2024, 1, 15, 9, 0, tzinfo=UTC)


def git_date(moment: datetime) -> str:
    """Return a datetime as git's internal date format, keeping its UTC offset."""
    if moment.tzinfo is None:
        raise ValueError("scripted dates must be timezone-aware")
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"@{int(moment.timestamp())} {sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


@dataclass
class _Pending:
    """Edits since the last commit: path -> (old path, old content, existed before), and gitlinks."""

    old: dict[str, tuple[str | None, bytes, bool]] = field(default_factory=dict)
    gitlinks: set[str] = field(default_factory=set)


class RepoBuilder:
    """A working repository whose commits are scripted and recorded, publishable as a bare repo.

    Stage edits with write/write_many/delete/rename/symlink/gitlink, then commit(); branch(),
    checkout() and merge() make merges; reset_hard() then new commits and publish() make a
    force-push rewrite. publish() with no commit gives an empty repository. Committer dates
    default to DEFAULT_START plus one hour per commit; pass `at=` (timezone-aware) to choose.
    `commits` holds every ScriptedCommit by sha; history(head) walks the scripted parents.
    """

    def __init__(self, root: Path, *, branch: str = "main") -> None:
        self.root = Path(root)
        self.work = self.root / "work"
        self.bare = self.root / "remote.git"
        self.default_branch = branch
        self.commits: dict[str, ScriptedCommit] = {}
        self._pending = _Pending()
        self._clock = DEFAULT_START
        self.work.mkdir(parents=True)
        self.git("init", "-q", "-b", branch)

    def copy_to(self, root: Path) -> RepoBuilder:
        """Return an independent copy (working repo, bare remote and records) under `root`."""
        if self._pending.old or self._pending.gitlinks:
            raise ValueError("commit or drop the staged edits before copying")
        shutil.copytree(self.root, root, symlinks=True)
        twin = copy.copy(self)
        twin.root, twin.work, twin.bare = Path(root), Path(root) / "work", Path(root) / "remote.git"
        twin.commits = dict(self.commits)
        twin._pending = _Pending()
        return twin

    def git(self, *args: str, env: Mapping[str, str] | None = None, input: bytes | None = None) -> str:
        """Run git in the working repository with a neutral config; return stdout."""
        return run(["git", *args], cwd=self.work, env=env, input=input)

    # -- staging -----------------------------------------------------------------------------

    def write(self, path: str, content: str | bytes) -> None:
        """Create or overwrite a file (str is written as UTF-8)."""
        data = content.encode() if isinstance(content, str) else content
        target = self._remember(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():
            target.unlink()
        target.write_bytes(data)

    def write_many(self, files: Mapping[str, str | bytes]) -> None:
        """Write several files."""
        for path, content in files.items():
            self.write(path, content)

    def delete(self, path: str) -> None:
        """Delete a file."""
        self._remember(path).unlink()

    def rename(self, old: str, new: str, content: str | bytes | None = None) -> None:
        """Move a committed file, optionally changing it (keep it over 50% similar so git sees a rename)."""
        if self._exists(new):
            raise ValueError(f"rename target exists: {new!r}")
        data = self._current(old)
        self._remember(old)
        old_path, old_data, existed = self._pending.old.pop(old)
        self._pending.old[new] = (old_path or old, old_data, existed)
        (self.work / old).unlink()
        target = self.work / new
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data if content is None else content.encode() if isinstance(content, str) else content)

    def symlink(self, path: str, target: str) -> None:
        """Create a symbolic link (git diffs its target as one line without a newline)."""
        link = self._remember(path)
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, link)

    def gitlink(self, path: str, sha: str) -> None:
        """Add a submodule entry (a gitlink) pointing at `sha`, without a .gitmodules file."""
        (self.work / path).mkdir(parents=True)  # an empty directory: an unpopulated submodule
        self.git("update-index", "--add", "--cacheinfo", f"160000,{sha},{path}")
        self._pending.gitlinks.add(path)

    # -- history -----------------------------------------------------------------------------

    def commit(
        self,
        subject: str,
        *,
        at: datetime | None = None,
        author: Identity = ALICE,
        committer: Identity | None = None,
        authored_at: datetime | None = None,
    ) -> ScriptedCommit:
        """Commit everything staged and return the recorded commit."""
        changes = self._changes()
        self.git("add", "-A")
        return self._record(subject, changes, at, author, committer, authored_at, extra_parent=None)

    def merge(
        self, branch: str, subject: str, *, at: datetime | None = None, author: Identity = ALICE
    ) -> ScriptedCommit:
        """Merge `branch` into the current branch with a merge commit (no conflicts allowed)."""
        other = self.head(branch)
        self.git("merge", "-q", "--no-ff", "--no-commit", branch)
        return self._record(subject, (), at, author, None, None, extra_parent=other)

    def branch(self, name: str, start: str | None = None) -> None:
        """Create a branch at `start` (default: HEAD) and switch to it."""
        self.git("checkout", "-q", "-b", name, *([start] if start else []))

    def checkout(self, name: str) -> None:
        """Switch to an existing branch."""
        self.git("checkout", "-q", name)

    def reset_hard(self, sha: str) -> None:
        """Point the current branch at `sha`, e.g. to rewrite history before a force-push."""
        self.git("reset", "-q", "--hard", sha)

    def head(self, branch: str | None = None) -> str:
        """Return the sha of a branch (default: the current one)."""
        return self.git("rev-parse", "--verify", f"refs/heads/{branch}" if branch else "HEAD").strip()

    def history(self, head: str | None = None) -> list[ScriptedCommit]:
        """Return recorded commits reachable from `head` (sha or branch; default: current) by scripted parents."""
        start = head if head in self.commits else self.head(head)
        seen: dict[str, ScriptedCommit] = {}
        stack = [start]
        while stack:
            sha = stack.pop()
            if sha not in seen:
                seen[sha] = self.commits[sha]
                stack.extend(seen[sha].parents)
        return sorted(seen.values(), key=lambda commit: (commit.committed_at, commit.sha), reverse=True)

    def publish(self) -> str:
        """Mirror every branch to the bare repository root/remote.git (forced) and return its file:// URL."""
        if not self.bare.exists():
            run(["git", "init", "-q", "--bare", "-b", self.default_branch, str(self.bare)], cwd=self.root)
        if self.git("for-each-ref", "refs/heads/").strip():
            self.git("push", "-q", "--mirror", str(self.bare))
        return self.bare.as_uri()

    # -- internals ---------------------------------------------------------------------------

    def _exists(self, path: str) -> bool:
        """Tell whether a path exists in the working tree (a dangling symlink counts)."""
        target = self.work / path
        return target.is_symlink() or target.exists()

    def _current(self, path: str) -> bytes:
        """Return a path's content in the working tree (b"" when absent; a symlink's target)."""
        target = self.work / path
        if target.is_symlink():
            return os.readlink(target).encode()
        return target.read_bytes() if target.is_file() else b""

    def _remember(self, path: str) -> Path:
        """Note a path's content before its first change since the last commit; return its location."""
        if path.startswith("/") or ".." in path.split("/"):
            raise ValueError(f"path must be relative to the repository: {path!r}")
        if path not in self._pending.old:
            self._pending.old[path] = (None, self._current(path), self._exists(path))
        return self.work / path

    def _changes(self) -> tuple[FileChange, ...]:
        """Turn the staged edits into per-path line counts (unchanged paths drop out)."""
        changes = [FileChange(path, 1, 0) for path in sorted(self._pending.gitlinks)]
        for path, (old_path, old, existed) in sorted(self._pending.old.items()):
            exists = self._exists(path)
            new = self._current(path)
            if old_path is None and (existed, old) == (exists, new):
                continue
            if not existed and not exists:
                continue
            added, deleted = line_delta(old, new)
            changes.append(FileChange(path, added, deleted, old_path))
        self._pending = _Pending()
        return tuple(changes)

    def _record(
        self,
        subject: str,
        changes: tuple[FileChange, ...],
        at: datetime | None,
        author: Identity,
        committer: Identity | None,
        authored_at: datetime | None,
        extra_parent: str | None,
    ) -> ScriptedCommit:
        """Create the commit with scripted identities and dates, and record it."""
        committed_at = at or self._clock
        self._clock = max(self._clock, committed_at) + timedelta(hours=1)
        authored_at = authored_at or committed_at
        committer = committer or author
        parents = tuple(p for p in (self._head_or_none(), extra_parent) if p)
        env = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_AUTHOR_DATE": git_date(authored_at),
            "GIT_COMMITTER_NAME": committer.name,
            "GIT_COMMITTER_EMAIL": committer.email,
            "GIT_COMMITTER_DATE": git_date(committed_at),
        }
        self.git("commit", "-q", "--allow-empty", "--no-verify", "-F", "-", env=env, input=subject.encode())
        sha = self.head()
        record = ScriptedCommit(sha, parents, author, committer, authored_at, committed_at, subject, changes)
        self.commits[sha] = record
        return record

    def _head_or_none(self) -> str | None:
        """Return HEAD's sha, or None before the first commit."""
        try:
            return self.head()
        except subprocess.CalledProcessError:
            return None


def run(argv: list[str], *, cwd: Path, env: Mapping[str, str] | None = None, input: bytes | None = None) -> str:
    """Run a command with git's user/system config neutralised; return stdout (raise on failure)."""
    full_env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": os.devnull,
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_COUNT": "4",
        "GIT_CONFIG_KEY_0": "commit.gpgSign",
        "GIT_CONFIG_VALUE_0": "false",
        "GIT_CONFIG_KEY_1": "core.autocrlf",
        "GIT_CONFIG_VALUE_1": "false",
        "GIT_CONFIG_KEY_2": "user.name",
        "GIT_CONFIG_VALUE_2": "Test Builder",
        "GIT_CONFIG_KEY_3": "user.email",
        "GIT_CONFIG_VALUE_3": "builder@example.invalid",
        **(env or {}),
    }
    done = subprocess.run(argv, cwd=cwd, env=full_env, input=input, capture_output=True, timeout=60, check=False)
    if done.returncode != 0:
        raise CommandError(done.returncode, argv, done.stdout, done.stderr)
    return done.stdout.decode("utf-8", "replace")


class CommandError(subprocess.CalledProcessError):
    """A failed command whose message includes its stderr."""

    def __str__(self) -> str:
        return f"{super().__str__()}\n{self.stderr.decode('utf-8', 'replace').strip()}"


def clone_checkout(url: str, dest: Path, ref: str | None = None) -> Path:
    """Check out `ref` (default: the remote's HEAD) of a repository into `dest`, without .git, for cloc."""
    run(["git", "clone", "-q", "--no-checkout", url, str(dest)], cwd=dest.parent)
    run(["git", "checkout", "-q", "--detach", ref or "HEAD"], cwd=dest)
    shutil.rmtree(dest / ".git")
    return dest
