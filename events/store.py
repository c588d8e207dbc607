"""Store GitHub events once: map event JSON to rows, insert ignoring known ids, prune old rows."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, delete, select

from events import hours, repos
from gh.rules import parse_github_time
from infra.extensions import db, upsert_ignore
from models import Event, utcnow

log = logging.getLogger(__name__)
ROUND = 1000  # rows formatted at once for COPY (the next round is formatted while one streams)
INSERT_CHUNK = 500  # rows per multi-row INSERT on SQLite (its limit is 32766 parameters)
PRUNE_BATCH = 5000  # rows per DELETE, so pruning never holds long locks
STAGING = "events_incoming"
COLUMNS = ("id", "type", "action", "repo_id", "repo_name", "actor_id", "actor_login", "created_at", "payload",
           "public", "inserted_at")  # fmt: skip


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
    """Return a text field cut to its column, without U+0000 (which PostgreSQL cannot store)."""
    return None if value is None else str(value).replace("\x00", "")[:length]


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


_JSON = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per call
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": None})
NULL = "\\N"  # COPY's text format for NULL
# GitHub's form of a time, which PostgreSQL reads as Python does (other forms Python reads are re-written)
_PLAIN_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?\+00:00", re.ASCII)


def jsonb_text(payload: Any) -> str:
    """Serialise a payload for PostgreSQL's jsonb, which cannot hold U+0000 (GitHub texts sometimes do)."""
    text = _JSON(payload)
    if "\\u0000" in text:  # a cheap test; the walk below only runs for the rare payload that may need it
        text = _JSON(_strip_nul(payload))
    return text


def _is_mapping(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)  # the exact type first: the ABC check is slow


def event_fields(raw: Mapping[str, Any]) -> tuple[Any, ...]:
    """Map one event of GitHub's Events API to an `events` row in COLUMNS order, without `inserted_at`,
    followed by the creation time as ISO 8601 text (what COPY sends).

    Raise MalformedEvent if it lacks a usable id, type or creation time.
    """
    try:
        event_id, kind = int(raw["id"]), str(raw["type"])
        created_text = str(raw["created_at"]).replace("Z", "+00:00")
        created_at = parse_github_time(created_text)
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedEvent(f"event without a usable {exc}") from None
    if created_at is None or not kind:
        raise MalformedEvent("event without a type or creation time")
    payload, repo, actor = raw.get("payload"), raw.get("repo"), raw.get("actor")
    payload = payload if _is_mapping(payload) else {}
    action = payload.get("action")
    repo = repo if _is_mapping(repo) else {}
    actor = actor if _is_mapping(actor) else {}
    return (
        event_id,
        _clip(kind, 64),
        # GitHub's actions are lower-case words; storing them so makes the filter index-friendly.
        _clip(action.lower(), 64) if isinstance(action, str) else None,
        _int_or_none(repo.get("id")),
        _clip(repo.get("name"), 140) or None,  # GitHub names are never empty: "" is no name
        _int_or_none(actor.get("id")),
        _clip(actor.get("login"), 100),
        created_at,
        payload,
        # GitHub marks an event of a private repository `public: false`; every event carries the flag.
        raw.get("public", True) is True,
        created_text,
    )


def event_row(raw: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """Map one event of GitHub's Events API to an `events` row; raise MalformedEvent if unusable."""
    return dict(zip(COLUMNS, (*event_fields(raw)[:-1], now or utcnow()), strict=True))


def _copy_text(value: str | None) -> str:
    """Return a text value as a field of COPY's text format (U+0000, which PostgreSQL cannot store, dropped)."""
    if value is None:
        return NULL
    return value.translate(_COPY_ESCAPES) if "\\" in value or not value.isprintable() else value


def copy_line(fields: tuple[Any, ...], inserted_at: str) -> str:
    """Return one `events` row (event_fields' tuple) as a line of COPY's text format, in COLUMNS order."""
    event_id, kind, action, repo_id, repo_name, actor_id, actor_login, created_at, payload, public, created_text = (
        fields
    )
    payload_text = jsonb_text(payload)
    if "\\" in payload_text:
        payload_text = payload_text.replace("\\", "\\\\")
    return (
        f"{event_id}\t{_copy_text(kind)}\t{_copy_text(action)}\t{NULL if repo_id is None else repo_id}\t"
        f"{_copy_text(repo_name)}\t{NULL if actor_id is None else actor_id}\t{_copy_text(actor_login)}\t"
        f"{created_text if _PLAIN_TIME.fullmatch(created_text) else created_at.isoformat()}\t{payload_text}\t"
        f"{'t' if public else 'f'}\t{inserted_at}\n"
    )


def insert_rows(rows: list[tuple[Any, ...]], now: datetime, engine: Engine | None = None) -> int:
    """Insert rows (event_fields tuples) whose id is new; return how many were new (exact, even under races)."""
    if not rows:
        return 0
    with (engine or db.engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            return _copy_insert(conn, rows, now)
        dicts = [dict(zip(COLUMNS, (*row[:-1], now), strict=True)) for row in rows]
        statement = upsert_ignore(conn.dialect.name, _table(), ["id"]).returning(_table().c.id)
        new: set[int] = set()
        for i in range(0, len(dicts), INSERT_CHUNK):
            new.update(conn.execute(statement, dicts[i : i + INSERT_CHUNK]).scalars())
        added = [row for row in dicts if row["id"] in new]
        hours.add_rows(conn, added)
        repos.add_rows(conn, added)
        return len(new)


def _copy_lines(rows: list[tuple[Any, ...]], stamp: str) -> bytes:
    return "".join([copy_line(row, stamp) for row in rows]).encode()


def _copy_insert(conn: Connection, rows: list[tuple[Any, ...]], now: datetime) -> int:
    """COPY rows into a session-private staging table, then move the new ones over in one statement.

    COPY is PostgreSQL's bulk path (no per-row statement); the lines are formatted here, in one
    string per ROUND rows rather than value by value by the driver, the next round in a helper
    thread while this one streams to PostgreSQL (the driver releases the GIL while it waits), so
    both cores work. ON CONFLICT DO NOTHING … RETURNING then names exactly the rows this call
    added, and the same statement adds them to `event_hours` and `event_repos`.
    """
    names, stamp = ", ".join(COLUMNS), now.isoformat()
    rounds = [rows[i : i + ROUND] for i in range(0, len(rows), ROUND)]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} (LIKE events) ON COMMIT DELETE ROWS")
    with cursor.copy(f"COPY {STAGING} ({names}) FROM STDIN") as copy:
        if len(rounds) == 1:  # a page of the poller: no helper thread
            copy.write(_copy_lines(rounds[0], stamp))
        else:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="copy-lines") as helper:
                upcoming = helper.submit(_copy_lines, rounds[0], stamp)
                for index in range(len(rounds)):
                    data = upcoming.result()
                    if index + 1 < len(rounds):
                        upcoming = helper.submit(_copy_lines, rounds[index + 1], stamp)
                    copy.write(data)
    # Every name in these statements is a module constant: no input reaches the SQL text.
    cursor.execute(hours.move_statement(STAGING, names))
    return int(cursor.fetchone()[0])


def store_events(raw_events: Iterable[Any], engine: Engine | None = None) -> StoreResult:
    """Store the events not stored yet; count what was new and what could not be read."""
    rows: dict[int, tuple[Any, ...]] = {}
    malformed, seen, now = 0, 0, utcnow()
    for raw in raw_events:
        seen += 1
        try:
            row = event_fields(raw) if _is_mapping(raw) else None
        except MalformedEvent as exc:
            log.warning("skipping a malformed event: %s", exc)
            row = None
        if row is None:
            malformed += 1
            continue
        rows.setdefault(row[0], row)  # overlapping pages may repeat an event
    inserted = insert_rows(list(rows.values()), now, engine)
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
                repos.trim(conn, cutoff)
            return removed
