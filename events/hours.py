"""Keep `event_hours` (events per hour, type, action and `public` flag) in step with the `events` table.

Maintained in the same transaction as the events it counts: PostgreSQL's ingest moves new rows
and adds their hours in one statement (`move_statement`); SQLite adds them from Python
(`add_rows`). Pruning drops whole hours and recounts the one the cutoff cuts through (`trim`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, literal, select

from events import repos
from infra.extensions import conflict_insert
from models import Event, EventHour

HOUR = timedelta(hours=1)


def hour_of(moment: datetime) -> datetime:
    """Return the start of the UTC hour of an aware datetime."""
    return moment.replace(minute=0, second=0, microsecond=0)


def next_hour(moment: datetime) -> datetime:
    """Return the first whole hour at or after `moment`."""
    start = hour_of(moment)
    return start if start == moment else start + HOUR


def move_statement(staging: str, names: str) -> str:
    """Return PostgreSQL's statement that moves new staged events and adds them to their hours and repositories.

    It answers one row: how many events were new. Every name is a module constant of the caller.
    """
    return count_statement(
        f"INSERT INTO events ({names}) SELECT {names} FROM {staging} "  # noqa: S608
        f"ON CONFLICT (id) DO NOTHING RETURNING {COUNTED}"
    )


COUNTED = "type, action, created_at, public, repo_name, repo_id"  # what the counters read of a new event


def count_statement(moved: str) -> str:
    """Return PostgreSQL's statement that adds the events `moved` (a query answering COUNTED) to their
    hours and repositories, answering one row: how many they were. `moved` is built from module constants.
    """
    return (
        f"WITH moved AS ({moved}), "  # noqa: S608
        "counted AS (INSERT INTO event_hours (hour, type, action, public, count, oldest, newest) "
        "SELECT date_trunc('hour', created_at, 'UTC'), type, coalesce(action, ''), public, count(*), "
        "min(created_at), max(created_at) FROM moved GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 "
        "ON CONFLICT (hour, type, action, public) DO UPDATE SET count = event_hours.count + excluded.count, "
        "oldest = least(event_hours.oldest, excluded.oldest), newest = greatest(event_hours.newest, excluded.newest)), "
        f"{repos.UPSERT_CTE} SELECT count(*) FROM moved"
    )


def add_rows(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """Add events (already inserted, each once) to their hours (the portable path)."""
    sums = repos.tally(rows, lambda r: (hour_of(r["created_at"]), r["type"], r["action"] or "", r["public"]))
    if not sums:
        return
    table = EventHour.__table__
    values = [{"hour": h, "type": t, "action": a, "public": p, "count": n, "oldest": lo, "newest": hi}
              for (h, t, a, p), (n, lo, hi) in sorted(sums.items())]  # fmt: skip
    insert = conflict_insert(conn.dialect.name, table)
    # two-argument min/max are SQLite's scalar functions; PostgreSQL names them least/greatest
    lower, upper = (func.min, func.max) if conn.dialect.name == "sqlite" else (func.least, func.greatest)
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=["hour", "type", "action", "public"],
            set_={
                "count": table.c.count + insert.excluded.count,
                "oldest": lower(table.c.oldest, insert.excluded.oldest),
                "newest": upper(table.c.newest, insert.excluded.newest),
            },
        ),
        values,
    )


def recount(conn: Connection, start: datetime, end: datetime) -> None:
    """Recompute the hours in [start, end) from the raw events (after a prune, and for backfills)."""
    conn.execute(delete(EventHour).where(EventHour.hour >= start, EventHour.hour < end))
    action = func.coalesce(Event.action, literal(""))
    query = (
        select(Event.type, action, Event.created_at, Event.public)
        .where(and_(Event.created_at >= start, Event.created_at < end))
        .order_by(Event.created_at)
    )
    add_rows(conn, ({"type": t, "action": a, "created_at": c, "public": p} for t, a, c, p in conn.execute(query)))


def trim(conn: Connection, cutoff: datetime) -> None:
    """Forget the hours before `cutoff` and recount the one it cuts through."""
    conn.execute(delete(EventHour).where(EventHour.hour < hour_of(cutoff)))
    if hour_of(cutoff) != cutoff:
        recount(conn, hour_of(cutoff), hour_of(cutoff) + HOUR)
