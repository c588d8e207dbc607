"""What a scripted history should measure, computed without git: commits, line counts, metrics."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

# Git's own binary test: a NUL byte in the first 8000 bytes.
BINARY_PROBE = 8000


def split_lines(data: bytes) -> list[bytes]:
    """Split content into lines the way git's diff does (a last line may lack its newline)."""
    if not data:
        return []
    lines = [line + b"\n" for line in data.split(b"\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def lcs_length(old: list[bytes], new: list[bytes]) -> int:
    """Return the length of the longest common subsequence of two line lists."""
    prefix = 0
    while prefix < min(len(old), len(new)) and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(old), len(new)) - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    a, b = old[prefix : len(old) - suffix], new[prefix : len(new) - suffix]
    previous = [0] * (len(b) + 1)
    for line in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if line == other else max(previous[j + 1], current[j]))
        previous = current
    return prefix + suffix + previous[-1]


def is_binary(data: bytes) -> bool:
    """Tell whether git would treat the content as binary."""
    return b"\0" in data[:BINARY_PROBE]


def line_delta(old: bytes, new: bytes) -> tuple[int | None, int | None]:
    """Return (added, deleted) lines from old to new content, or (None, None) if either is binary."""
    if is_binary(old) or is_binary(new):
        return None, None
    old_lines, new_lines = split_lines(old), split_lines(new)
    common = lcs_length(old_lines, new_lines)
    return len(new_lines) - common, len(old_lines) - common


@dataclass(frozen=True)
class Identity:
    """A commit author or committer."""

    name: str
    email: str


ALICE = Identity("Alice Example", "alice@example.com")
BOB = Identity("Bob Builder", "bob@example.org")
CAROL = Identity("Carol Ünicode", "carol@example.net")


@dataclass(frozen=True)
class FileChange:
    """What one commit did to one path: lines added and deleted (None for binary), and the old path of a rename."""

    path: str
    added: int | None
    deleted: int | None
    old_path: str | None = None

    @property
    def lines(self) -> int:
        """Return added + deleted, counting a binary file as 0."""
        return (self.added or 0) + (self.deleted or 0)


@dataclass(frozen=True)
class ScriptedCommit:
    """A commit as the test scripted it."""

    sha: str
    parents: tuple[str, ...]
    author: Identity
    committer: Identity
    authored_at: datetime
    committed_at: datetime
    subject: str
    changes: tuple[FileChange, ...] = ()

    @property
    def is_merge(self) -> bool:
        """Tell whether the commit has more than one parent."""
        return len(self.parents) > 1

    @property
    def additions(self) -> int:
        """Return lines added over all files."""
        return sum(change.added or 0 for change in self.changes)

    @property
    def deletions(self) -> int:
        """Return lines deleted over all files."""
        return sum(change.deleted or 0 for change in self.changes)

    @property
    def files_changed(self) -> int:
        """Return the number of files changed (binary files included)."""
        return len(self.changes)

    def churn(self, excluded_dirs: Iterable[str]) -> int:
        """Return added + deleted outside excluded directories; 0 for a merge."""
        if self.is_merge:
            return 0
        return sum(change.lines for change in self.changes if not under_excluded_dir(change.path, excluded_dirs))


def under_excluded_dir(path: str, excluded_dirs: Iterable[str]) -> bool:
    """Tell whether a directory component of `path` is one of the excluded names."""
    names = set(excluded_dirs)
    return any(part in names for part in path.split("/")[:-1])


def expected_commits(commits: Iterable[ScriptedCommit]) -> int:
    """Return the number of commits."""
    return len(list(commits))


def expected_churn(commits: Iterable[ScriptedCommit], excluded_dirs: Iterable[str]) -> int:
    """Return the summed churn of the commits."""
    names = list(excluded_dirs)
    return sum(commit.churn(names) for commit in commits)


def expected_active_days(commits: Iterable[ScriptedCommit]) -> int:
    """Return the number of distinct UTC dates among committer dates."""
    return len({commit.committed_at.astimezone(UTC).date() for commit in commits})


def expected_time_spent_minutes(commits: Iterable[ScriptedCommit]) -> float:
    """Return minutes between the oldest and newest committer dates (0 without commits)."""
    dates = [commit.committed_at for commit in commits]
    return (max(dates) - min(dates)).total_seconds() / 60 if dates else 0.0
