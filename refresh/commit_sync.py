"""Keep a project's stored commits equal to the history reachable from its HEAD, incrementally.

Only commits new since the last ingested HEAD are read; a force-push (old HEAD no longer an
ancestor) is reconciled by deleting unreachable commits and reading the missing ones. The
seed-004 aggregates are then derived from the stored rows, so they always agree with them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, distinct, func, insert, select

from analysis import gitlog, logstream, partial
from analysis.gitcmd import GitError, Mirror
from analysis.metrics import EMPTY_HISTORY, HistoryStats
from analysis.numstat import CommitRecord
from infra.extensions import db
from infra.runtime import runtime
from models import Commit, Project

# Bump when the meaning of a stored column changes: every project is then re-read once.
PARSER_VERSION = "1"
INSERT_BATCH = 2000


@dataclass(frozen=True)
class SyncResult:
    mode: str  # "unchanged" | "incremental" | "reconciled" | "full"
    added: int
    removed: int


def fingerprint(excluded_dirs: Iterable[str], mirror: Mirror, head: str) -> str:
    """Identify what the stored numbers depend on besides HEAD: exclusions, parser, .mailmap."""
    try:
        out = mirror.git(["rev-parse", "--verify", "--quiet", f"{head}:.mailmap"], check=False)
        mailmap = out.stdout.decode().strip() if out.returncode == 0 else "none"
    except GitError:
        mailmap = "none"
    material = "|".join([PARSER_VERSION, ",".join(sorted(excluded_dirs)), mailmap])
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def _parallelism() -> int:
    """Return how many `git log` processes read a whole history at once.

    Each holds up to about 180 MB (git's delta base cache and pack windows), and the LOC count
    and this process's parsing run beside them: on two cores or less, or under the default
    512 MB budget of a worker, one is as fast and leaves the memory to the rest.
    """
    cores = os.cpu_count() or 1
    budget = runtime().settings.max_worker_memory_mb
    return max(1, min(4, cores - 1, (budget - 200) // 180))


def _both_ends(mirror: Mirror) -> bool:
    """Tell whether a whole history is read from both ends at once (logstream.stream_commits_from_both_ends).

    On two cores a single `git log` leaves one idle; its two processes together hold about what
    one default `git log` holds, so a 512 MB worker can afford them. A blobless mirror would have
    both fetch blobs as they go: it is read by one.
    """
    cores, budget = os.cpu_count() or 1, runtime().settings.max_worker_memory_mb
    return cores >= 2 and budget >= 512 and not partial.is_partial(mirror)


def commit_rows(project_id: int, records: Iterable[CommitRecord]) -> list[dict]:
    return [
        {
            "project_id": project_id,
            "sha": r.sha,
            "author_name": r.author_name[:255],
            "author_email": r.author_email[:255],
            "authored_at": r.authored_at,
            "committer_name": r.committer_name[:255],
            "committer_email": r.committer_email[:255],
            "committed_at": r.committed_at,
            "committed_day": r.committed_at.date(),
            "additions": r.additions,
            "deletions": r.deletions,
            "files_changed": r.files_changed,
            "churn": r.churn,
            "subject": r.subject,
            "is_merge": r.is_merge,
        }
        for r in records
    ]


# COPY's text format: these characters of a value are written as backslash escapes.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
COPY_COLUMNS = ("project_id", "sha", "author_name", "author_email", "authored_at", "committer_name",
                "committer_email", "committed_at", "committed_day", "additions", "deletions", "files_changed",
                "churn", "subject", "is_merge")  # fmt: skip


def copy_text(project_id: int, records: Iterable[CommitRecord]) -> str:
    """Return the rows of `records` in COPY's text format, columns in COPY_COLUMNS order.

    Written here rather than row by row through psycopg (about 20x cheaper in Python); the values
    are those of `commit_rows`, so both paths store the same.
    """
    project = str(project_id)
    lines = []
    for r in records:
        fields = (
            project,
            r.sha,
            r.author_name[:255].translate(_COPY_ESCAPES),
            r.author_email[:255].translate(_COPY_ESCAPES),
            r.authored_at.isoformat(),
            r.committer_name[:255].translate(_COPY_ESCAPES),
            r.committer_email[:255].translate(_COPY_ESCAPES),
            r.committed_at.isoformat(),
            r.committed_at.date().isoformat(),
            str(r.additions),
            str(r.deletions),
            str(r.files_changed),
            str(r.churn),
            r.subject.translate(_COPY_ESCAPES),
            "t" if r.is_merge else "f",
        )
        lines.append("\t".join(fields))
    return "".join(f"{line}\n" for line in lines)


def insert_records(project_id: int, records: list[CommitRecord]) -> None:
    """Insert commit rows in the session's transaction (COPY on PostgreSQL)."""
    if not records:
        return
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY commits ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
            copy.write(copy_text(project_id, records).encode("utf-8"))
        return
    rows = commit_rows(project_id, records)
    for start in range(0, len(rows), INSERT_BATCH):
        db.session.execute(insert(Commit), rows[start : start + INSERT_BATCH])


def _insert_batches(project_id: int, batches: Iterable[list[CommitRecord]]) -> int:
    """Insert commit rows batch by batch as git produces them; return how many."""
    added = 0
    for batch in batches:
        insert_records(project_id, batch)
        added += len(batch)
    return added


def _unstored(project_id: int, records: list[CommitRecord]) -> list[CommitRecord]:
    """Drop records already stored: in a shallow mirror a merged side branch can look new below the cut."""
    shas = [r.sha for r in records]
    stored: set[str] = set()
    for start in range(0, len(shas), 500):
        chunk = shas[start : start + 500]
        query = select(Commit.sha).where(Commit.project_id == project_id, Commit.sha.in_(chunk))
        stored.update(db.session.scalars(query))
    return [r for r in records if r.sha not in stored]


def usable_partial(project: Project, mirror: Mirror, head: str, rules: str) -> bool:
    """Tell whether a partial mirror holds all this refresh needs: same rules, stored HEAD an ancestor."""
    if not partial.is_partial(mirror) or (head == project.head_sha and rules == project.analysis_fingerprint):
        return True
    old = project.head_sha
    return rules == project.analysis_fingerprint and old is not None and partial.reaches(mirror, old, head)


def head_committed_at(project: Project) -> datetime | None:
    """Return when the stored HEAD was committed (None when unknown)."""
    if not project.head_sha:
        return None
    query = select(Commit.committed_at).where(Commit.project_id == project.id, Commit.sha == project.head_sha)
    return db.session.scalar(query.limit(1))


def _stored_shas(project_id: int) -> set[str]:
    return set(db.session.scalars(select(Commit.sha).where(Commit.project_id == project_id)))


def _delete_shas(project_id: int, shas: set[str]) -> None:
    ordered = sorted(shas)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        db.session.execute(delete(Commit).where(Commit.project_id == project_id, Commit.sha.in_(chunk)))


def sync(project: Project, mirror: Mirror, head: str, excluded: tuple[str, ...], rules: str) -> SyncResult:
    """Bring the stored commits of `project` to `head` (inside the caller's transaction).

    Same rules and an ancestor HEAD: read only the new commits. Otherwise (history rewritten,
    or the stored HEAD forgotten by reset-collection-date) reconcile by sha: delete what is no
    longer reachable, read what is missing. Different rules (exclusions, .mailmap): read all.
    """
    old_head = project.head_sha
    if project.analysis_fingerprint != rules:
        db.session.execute(delete(Commit).where(Commit.project_id == project.id))
        jobs = _parallelism()
        if jobs == 1 and _both_ends(mirror):
            batches = logstream.stream_commits_from_both_ends(mirror, head, excluded)
        else:
            batches = logstream.stream_commits(mirror, [head], excluded, jobs=jobs)
        return SyncResult("full", _insert_batches(project.id, batches), 0)
    if old_head == head:
        return SyncResult("unchanged", 0, 0)
    if old_head and gitlog.is_ancestor(mirror, old_head, head):
        if partial.is_blobless(mirror):
            partial.prefetch_diffs(mirror, [head, f"^{old_head}"])
        batches = logstream.stream_commits(mirror, [head, f"^{old_head}"], excluded)
        if partial.is_partial(mirror):
            batches = (_unstored(project.id, batch) for batch in batches)
        return SyncResult("incremental", _insert_batches(project.id, batches), 0)
    reachable = set(gitlog.rev_list(mirror, head))
    stored = _stored_shas(project.id)
    _delete_shas(project.id, stored - reachable)
    missing = sorted(reachable - stored)
    added = _insert_batches(project.id, logstream.stream_commits_by_sha(mirror, missing, excluded, jobs=_parallelism()))
    return SyncResult("reconciled", added, len(stored - reachable))


def forget_since(project: Project, since: datetime) -> int:
    """Delete the stored commits committed at or after `since`; the next refresh re-reads them."""
    result = db.session.execute(delete(Commit).where(Commit.project_id == project.id, Commit.committed_at >= since))
    project.head_sha = None
    return result.rowcount or 0


def clear(project: Project) -> None:
    """Forget every stored commit of a project (empty repository)."""
    db.session.execute(delete(Commit).where(Commit.project_id == project.id))


def stored_stats(project_id: int) -> HistoryStats:
    """Aggregate the stored commits in SQL (seed-004 definitions)."""
    count, days, first, last, churn = db.session.execute(
        select(
            func.count(Commit.id),
            func.count(distinct(Commit.committed_day)),
            func.min(Commit.committed_at),
            func.max(Commit.committed_at),
            func.coalesce(func.sum(Commit.churn), 0),
        ).where(Commit.project_id == project_id)
    ).one()
    if not count:
        return EMPTY_HISTORY
    return HistoryStats(
        commits=count,
        active_days=days,
        time_spent_min=(last - first).total_seconds() / 60,
        first_commit=first,
        last_commit=last,
        code_churn=int(churn),
    )


def apply_stats(project: Project, stats: HistoryStats) -> None:
    project.commit_count = stats.commits
    project.active_days = stats.active_days
    project.time_spent_min = stats.time_spent_min
    project.first_commit_date = stats.first_commit
    project.last_commit_date = stats.last_commit
    project.code_churn = stats.code_churn
