"""Keep `event_repos` (events per repository, type, action and `public` flag) in step with the `events` table.

The per-repository twin of `event_hours`: PostgreSQL's ingest adds new events to both in the
statement that inserts them (`hours.move_statement` with `UPSERT_CTE`), SQLite from Python
(`add_rows`); a prune recounts the repositories whose oldest event it may have removed.
A missing repository name is kept as "" and a missing id as 0 (GitHub's are never so).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, literal, or_, select

from infra.extensions import conflict_insert
from models import Event, EventRepo

CHUNK = 500  # repository names per recount statement

# A CTE of PostgreSQL's ingest statement: adds the rows of `moved` (the new events) to their repositories.
UPSERT_CTE = (
    "repos AS (INSERT INTO event_repos (repo_name, type, action, repo_id, public, count, oldest, newest) "
    "SELECT coalesce(repo_name, ''), type, coalesce(action, ''), coalesce(repo_id, 0), public, count(*), "
    "min(created_at), max(created_at) FROM moved GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5 "
    "ON CONFLICT (repo_name, type, action, repo_id, public) DO UPDATE SET count = event_repos.count + excluded.count, "
    "oldest = least(event_repos.oldest, excluded.oldest), newest = greatest(event_repos.newest, excluded.newest))"
)


def tally(rows: Iterable[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], Any]) -> dict[Any, list[Any]]:
    """Return {key: [count, oldest, newest]} of the events' `created_at`, grouped by `key(row)`."""
    sums: dict[Any, list[Any]] = {}
    for row in rows:
        at = row["created_at"]
        found = sums.get(key(row))
        if found is None:
            sums[key(row)] = [1, at, at]
        else:
            found[0] += 1
            found[1], found[2] = min(found[1], at), max(found[2], at)
    return sums


def add_rows(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """Add events (already inserted, each once) to their repositories (the portable path)."""
    sums = tally(rows, lambda r: (r["repo_name"] or "", r["type"], r["action"] or "", r["repo_id"] or 0, r["public"]))
    if not sums:
        return
    table = EventRepo.__table__
    values = [{"repo_name": r, "type": t, "action": a, "repo_id": i, "public": p, "count": n, "oldest": lo,
               "newest": hi} for (r, t, a, i, p), (n, lo, hi) in sorted(sums.items())]  # fmt: skip
    insert = conflict_insert(conn.dialect.name, table)
    lower, upper = (func.min, func.max) if conn.dialect.name == "sqlite" else (func.least, func.greatest)
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=["repo_name", "type", "action", "repo_id", "public"],
            set_={
                "count": table.c.count + insert.excluded.count,
                "oldest": lower(table.c.oldest, insert.excluded.oldest),
                "newest": upper(table.c.newest, insert.excluded.newest),
            },
        ),
        values,
    )


def recount(conn: Connection, names: Iterable[str]) -> None:
    """Recompute the rows of these repository names ("" for events without one) from the raw events."""
    ordered = sorted(set(names))
    for i in range(0, len(ordered), CHUNK):
        chunk = ordered[i : i + CHUNK]
        conn.execute(delete(EventRepo).where(EventRepo.repo_name.in_(chunk)))
        named = [Event.repo_name.in_(chunk)] + ([Event.repo_name.is_(None)] if "" in chunk else [])
        query = select(Event.repo_name, Event.type, func.coalesce(Event.action, literal("")), Event.repo_id,
                       Event.public, Event.created_at).where(or_(*named))  # fmt: skip
        add_rows(conn, ({"repo_name": n, "type": t, "action": a, "repo_id": r, "public": p, "created_at": c}
                        for n, t, a, r, p, c in conn.execute(query)))  # fmt: skip


def trim(conn: Connection, cutoff: datetime) -> None:
    """After events older than `cutoff` were deleted: recount the repositories that had some."""
    touched = conn.execute(select(EventRepo.repo_name).where(EventRepo.oldest < cutoff).distinct()).scalars()
    recount(conn, list(touched))
