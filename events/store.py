"""Store GitHub events once: map event JSON to rows, insert ignoring known ids, prune old rows."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, delete, select

from events import hours
from gh.rules import parse_github_time
from infra.extensions import db, upsert_ignore
from models import Event, utcnow

log = logging.getLogger(__name__)
INSERT_CHUNK = 500  # rows per multi-row INSERT on SQLite (its limit is 32766 parameters)
PRUNE_BATCH = 5000  # rows per DELETE, so pruning never holds long locks
STAGING = "events_incoming"
COLUMNS = ("id", "type", "action", "repo_id", "repo_name", "actor_id", "actor_login", "created_at", "payload",
           "inserted_at", "public")  # fmt: skip


class MalformedEvent(ValueError):
    """An event object lacks a field every GitHub event has (id, type, created_at)."""


@dataclass(frozen=True)
class StoreResult:
    """What one batch of events did to the table."""

    seen: int
    inserted: int
    malformed: int
    newest_id: int | None


def _table() -> Table:
    return cast(Table, Event.__table__)


def _clip(value: Any, length: int) -> str | None:
    return None if value is None else str(value)[:length]


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _strip_nul(value: Any) -> Any:
    """Return a JSON value with U+0000 removed from every string, keys included."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    return value


def jsonb_text(payload: Any) -> str:
    """Serialise a payload for PostgreSQL's jsonb, which cannot hold U+0000 (GitHub texts sometimes do)."""
    text = json.dumps(payload, separators=(",", ":"))
    if "\\u0000" in text:  # a cheap test; the walk below only runs for the rare payload that may need it
        text = json.dumps(_strip_nul(payload), separators=(",", ":"))
    return text


def event_row(raw: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """Map one event of GitHub's Events API to an `events` row; raise MalformedEvent if unusable."""
    try:
        event_id, kind = int(raw["id"]), str(raw["type"])
        created_at = parse_github_time(str(raw["created_at"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedEvent(f"event without a usable {exc}") from None
    if created_at is None or not kind:
        raise MalformedEvent("event without a type or creation time")
    payload = raw.get("payload") if isinstance(raw.get("payload"), Mapping) else {}
    action = payload.get("action")
    repo = raw.get("repo") if isinstance(raw.get("repo"), Mapping) else {}
    actor = raw.get("actor") if isinstance(raw.get("actor"), Mapping) else {}
    return {
        "id": event_id,
        "type": kind[:64],
        # GitHub's actions are lower-case words; storing them so makes the filter index-friendly.
        "action": action.lower()[:64] if isinstance(action, str) else None,
        "repo_id": _int_or_none(repo.get("id")),
        "repo_name": _clip(repo.get("name"), 140),
        "actor_id": _int_or_none(actor.get("id")),
        "actor_login": _clip(actor.get("login"), 100),
        "created_at": created_at,
        "payload": payload,
        "inserted_at": now or utcnow(),
        # GitHub marks an event of a private repository `public: false`; every event carries the flag.
        "public": raw.get("public", True) is True,
    }


def insert_rows(rows: list[dict[str, Any]], engine: Engine | None = None) -> int:
    """Insert rows, skipping ids that exist; return how many were new (exact, even under races)."""
    if not rows:
        return 0
    with (engine or db.engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            return _copy_insert(conn, rows)
        statement = upsert_ignore(conn.dialect.name, _table(), ["id"]).returning(_table().c.id)
        new: set[int] = set()
        for i in range(0, len(rows), INSERT_CHUNK):
            new.update(conn.execute(statement, rows[i : i + INSERT_CHUNK]).scalars())
        hours.add_rows(conn, (row for row in rows if row["id"] in new))
        return len(new)


def _copy_insert(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """COPY rows into a session-private staging table, then move the new ones over in one statement.

    COPY is PostgreSQL's bulk path (no per-row statement); ON CONFLICT DO NOTHING … RETURNING
    then names exactly the rows this call added, and the same statement adds them to `event_hours`.
    """
    names = ", ".join(COLUMNS)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} (LIKE events) ON COMMIT DELETE ROWS")
    with cursor.copy(f"COPY {STAGING} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([jsonb_text(row[c]) if c == "payload" else row[c] for c in COLUMNS])
    # Every name in these statements is a module constant: no input reaches the SQL text.
    cursor.execute(hours.move_statement(STAGING, names))
    return int(cursor.fetchone()[0])


def store_events(raw_events: Iterable[Any], engine: Engine | None = None) -> StoreResult:
    """Store the events not stored yet; count what was new and what could not be read."""
    rows: dict[int, dict[str, Any]] = {}
    malformed, seen, now = 0, 0, utcnow()
    for raw in raw_events:
        seen += 1
        try:
            row = event_row(raw, now) if isinstance(raw, Mapping) else None
        except MalformedEvent as exc:
            log.warning("skipping a malformed event: %s", exc)
            row = None
        if row is None:
            malformed += 1
            continue
        rows.setdefault(row["id"], row)  # overlapping pages may repeat an event
    inserted = insert_rows(list(rows.values()), engine)
    return StoreResult(seen, inserted, malformed, max(rows, default=None))


def prune_events(retention_days: int, engine: Engine | None = None) -> int:
    """Delete events created more than `retention_days` ago (0 keeps them forever); return the count."""
    if retention_days <= 0:
        return 0
    cutoff, table, removed = utcnow() - timedelta(days=retention_days), _table(), 0
    engine = engine or db.engine
    while True:
        doomed = select(table.c.id).where(table.c.created_at < cutoff).limit(PRUNE_BATCH).scalar_subquery()
        with engine.begin() as conn:
            count = conn.execute(delete(table).where(table.c.id.in_(doomed))).rowcount
        removed += count
        if count < PRUNE_BATCH:
            with engine.begin() as conn:
                hours.trim(conn, cutoff)
            return removed
