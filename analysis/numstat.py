"""Parse `git log -z --numstat` output into commit records (pure functions, no git)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice

# One commit = NUL, then these fields separated by NUL (the subject is last: it may be empty).
# %aN/%aE/%cN/%cE apply .mailmap; %at/%ct are unix timestamps, so the zone offset cannot mislead.
FIELDS = ("%H", "%P", "%aN", "%aE", "%at", "%cN", "%cE", "%ct", "%s")
LOG_FORMAT = "%x00" + "%x00".join(FIELDS)


@dataclass(frozen=True)
class CommitRecord:
    """One commit with its identities, UTC dates and numstat totals."""

    sha: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    authored_at: datetime
    committer_name: str
    committer_email: str
    committed_at: datetime
    subject: str
    is_merge: bool
    additions: int
    deletions: int
    files_changed: int
    churn: int


@dataclass
class _Totals:
    additions: int = 0
    deletions: int = 0
    files_changed: int = 0
    churn: int = 0


VERDICTS = 100_000  # paths whose exclusion verdict iter_log remembers (bounded: a history may hold millions)


def excluded_set(excluded_dirs: Iterable[str]) -> Collection[str]:
    """Return the excluded directory names as a set (kept as is when it already is one)."""
    return excluded_dirs if isinstance(excluded_dirs, set | frozenset) else frozenset(excluded_dirs)


def path_excluded(path: str, excluded_dirs: Iterable[str]) -> bool:
    """Tell whether any directory component of a repository path is an excluded name."""
    excluded = excluded_set(excluded_dirs)
    return any(part in excluded for part in path.split("/")[:-1])


def utc_from_timestamp(value: str) -> datetime:
    """Return an aware UTC datetime for a unix timestamp printed by git (clamped to datetime's range).

    git prints nothing for a date it cannot parse (a hand-made commit object); like `git log`'s
    own display, that is the epoch, so one such commit never blocks its repository.
    """
    try:
        seconds = int(value)
    except ValueError:
        seconds = 0
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return datetime.max.replace(tzinfo=UTC) if seconds > 0 else datetime.min.replace(tzinfo=UTC)


def parse_log(text: str, excluded_dirs: Iterable[str]) -> list[CommitRecord]:
    """Parse `git log -z --numstat --format=LOG_FORMAT` output, in output order."""
    excluded = excluded_set(excluded_dirs)
    tokens = text.split("\0")
    count = len(FIELDS)
    records: list[CommitRecord] = []
    i = 0
    while i < len(tokens):
        if tokens[i] != "":
            raise ValueError(f"unexpected git log output at token {i}: {tokens[i][:80]!r}")
        if i + count >= len(tokens):
            break  # the terminator after the last commit
        header = tokens[i + 1 : i + 1 + count]
        totals, i = _parse_numstat(tokens, i + 1 + count, excluded)
        records.append(_record(header, totals))
    return records


def _parse_numstat(tokens: list[str], i: int, excluded: Collection[str]) -> tuple[_Totals, int]:
    """Sum numstat entries from tokens[i] up to the next empty token; return totals and that index."""
    totals = _Totals()
    while i < len(tokens) and tokens[i] != "":
        added, deleted, path = tokens[i].removeprefix("\n").split("\t", 2)
        i += 1
        if not path:  # a rename or copy: "A\tD\t" NUL old NUL new; it counts against the new path
            path = tokens[i + 1]
            i += 2
        lines = (0 if added == "-" else int(added)) + (0 if deleted == "-" else int(deleted))
        totals.additions += 0 if added == "-" else int(added)
        totals.deletions += 0 if deleted == "-" else int(deleted)
        totals.files_changed += 1
        if not path_excluded(path, excluded):
            totals.churn += lines
    return totals, i


def _record(header: list[str], totals: _Totals) -> CommitRecord:
    """Build a CommitRecord from the format fields and the numstat totals."""
    sha, parents, author_name, author_email, authored, committer_name, committer_email, committed, subject = header
    parent_shas = tuple(parents.split())
    is_merge = len(parent_shas) > 1
    return CommitRecord(
        sha=sha,
        parents=parent_shas,
        author_name=author_name,
        author_email=author_email,
        authored_at=utc_from_timestamp(authored),
        committer_name=committer_name,
        committer_email=committer_email,
        committed_at=utc_from_timestamp(committed),
        subject=subject,
        is_merge=is_merge,
        additions=totals.additions,
        deletions=totals.deletions,
        files_changed=totals.files_changed,
        churn=0 if is_merge else totals.churn,
    )


def iter_log(tokens: Iterator[str], excluded_dirs: Iterable[str]) -> Iterator[CommitRecord]:
    """Parse the NUL-separated tokens of `git log -z --numstat` as they arrive (same result as parse_log)."""
    excluded = excluded_set(excluded_dirs)
    verdicts: dict[str, bool] = {}  # path -> outside the excluded directories
    count = len(FIELDS)
    token = next(tokens, None)
    position = 0
    while token is not None:
        if token != "":
            raise ValueError(f"unexpected git log output at token {position}: {token[:80]!r}")
        header = list(islice(tokens, count))
        position += 1 + len(header)
        if len(header) < count:
            break  # the terminator after the last commit
        totals = _Totals()
        token = next(tokens, None)
        while token is not None and token != "":
            added, deleted, path = token.removeprefix("\n").split("\t", 2)
            if not path:  # a rename or copy: the new path is the second of the next two tokens
                next(tokens, None)
                path = next(tokens, "")
                position += 2
            plus, minus = (0 if added == "-" else int(added)), (0 if deleted == "-" else int(deleted))
            totals.additions += plus
            totals.deletions += minus
            totals.files_changed += 1
            outside = verdicts.get(path)
            if outside is None:  # a path seen before (most are) costs one lookup
                if len(verdicts) >= VERDICTS:
                    verdicts.clear()
                outside = verdicts[path] = not path_excluded(path, excluded)
            if outside:
                totals.churn += plus + minus
            token = next(tokens, None)
            position += 1
        yield _record(header, totals)
