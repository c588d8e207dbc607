"""Store GitHub events once: map event JSON to rows, insert ignoring known ids, prune old rows."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import psycopg
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
COUNTING = "events_counted"  # the counters' columns of events COPied straight into `events`
DIRECT_FROM = ROUND  # batches of at least this many rows try COPY straight into `events` first
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


def payload_text(payload: Any) -> str:
    """Serialise a payload for PostgreSQL without U+0000 (GitHub texts sometimes hold it), which its text and
    jsonb types cannot hold: a payload then reads back the same as any text column of the event."""
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


def _time_text(created_text: str, created_at: datetime) -> str:
    return created_text if _PLAIN_TIME.fullmatch(created_text) else created_at.isoformat()


def copy_line(fields: tuple[Any, ...], inserted_at: str) -> str:
    """Return one `events` row (event_fields' tuple) as a line of COPY's text format, in COLUMNS order."""
    event_id, kind, action, repo_id, repo_name, actor_id, actor_login, created_at, payload, public, created_text = (
        fields
    )
    payload = payload_text(payload)
    if "\\" in payload:
        payload = payload.replace("\\", "\\\\")
    return (
        f"{event_id}\t{_copy_text(kind)}\t{_copy_text(action)}\t{NULL if repo_id is None else repo_id}\t"
        f"{_copy_text(repo_name)}\t{NULL if actor_id is None else actor_id}\t{_copy_text(actor_login)}\t"
        f"{_time_text(created_text, created_at)}\t{payload}\t{'t' if public else 'f'}\t{inserted_at}\n"
    )


def counted_line(fields: tuple[Any, ...]) -> str:
    """Return what the counters read of one row (event_fields' tuple) as a COPY line, in hours.COUNTED order."""
    _, kind, action, repo_id, repo_name, _, _, created_at, _, public, created_text = fields
    return (
        f"{_copy_text(kind)}\t{_copy_text(action)}\t{_time_text(created_text, created_at)}\t"
        f"{'t' if public else 'f'}\t{_copy_text(repo_name)}\t{NULL if repo_id is None else repo_id}\n"
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


def _stream(copy: Any, rows: list[tuple[Any, ...]], format_round: Callable[[list[tuple[Any, ...]]], bytes]) -> None:
    """Write rows to a COPY in rounds of ROUND, formatting the next round in a helper thread while one streams.

    The driver releases the GIL while it waits on PostgreSQL, so both cores work.
    """
    rounds = [rows[i : i + ROUND] for i in range(0, len(rows), ROUND)]
    if len(rounds) == 1:  # a page of the poller: no helper thread
        copy.write(format_round(rounds[0]))
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="copy-lines") as helper:
        upcoming = helper.submit(format_round, rounds[0])
        for index in range(len(rounds)):
            data = upcoming.result()
            if index + 1 < len(rounds):
                upcoming = helper.submit(format_round, rounds[index + 1])
            copy.write(data)


def _copy_insert(conn: Connection, rows: list[tuple[Any, ...]], now: datetime) -> int:
    """COPY rows into a session-private staging table, then move the new ones over in one statement.

    COPY is PostgreSQL's bulk path (no per-row statement), fed by `_stream`. ON CONFLICT DO
    NOTHING … RETURNING then names exactly the rows this call added, and the same statement adds
    them to `event_hours` and `event_repos`.
    """
    names, stamp = ", ".join(COLUMNS), now.isoformat()
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    # Every name in these statements is a module constant: no input reaches the SQL text.
    cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} (LIKE events) ON COMMIT DELETE ROWS")
    with cursor.copy(f"COPY {STAGING} ({names}) FROM STDIN") as copy:
        _stream(copy, rows, lambda part: _copy_lines(part, stamp))
    cursor.execute(hours.move_statement(STAGING, names))
    return int(cursor.fetchone()[0])


class _Rounds:
    """Map raw events to COPY data round by round (called in `_stream`'s helper thread, in order),
    keeping what the counters read of them and what was seen."""

    def __init__(self, stamp: str) -> None:
        self.stamp, self.ids, self.counted, self.problems = stamp, set[int](), list[bytes](), list[str]()

    def __call__(self, part: list[Any]) -> bytes:
        rows = []
        for raw in part:
            row = _mapped(raw, self.problems)
            if row is not None and row[0] not in self.ids:  # overlapping pages may repeat an event
                self.ids.add(row[0])
                rows.append(row)
        self.counted.append("".join([counted_line(row) for row in rows]).encode())
        return _copy_lines(rows, self.stamp)


def _store_direct(raws: list[Any], now: datetime, engine: Engine) -> StoreResult | None:
    """Store a large batch by COPY straight into `events` (PostgreSQL); None if an event was already there.

    A backfill holds no known event: this skips the staging table, and mapping and
    formatting each round overlap the server's index work on the one before. The counters'
    columns go to a second temporary table that then feeds `event_hours` and `event_repos`. If an
    event is already stored (or a concurrent call stores one first), the transaction is rolled
    back and the caller takes the general path.
    """
    rounds = _Rounds(now.isoformat())
    names = ", ".join(COLUMNS)
    try:
        with engine.begin() as conn:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            # Every name in these statements is a module constant: no input reaches the SQL text.
            with cursor.copy(f"COPY events ({names}) FROM STDIN") as copy:
                _stream(copy, raws, rounds)
            counting = f"SELECT {hours.COUNTED} FROM events WITH NO DATA"  # noqa: S608
            cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {COUNTING} ON COMMIT DELETE ROWS AS {counting}")
            with cursor.copy(f"COPY {COUNTING} ({hours.COUNTED}) FROM STDIN") as copy:
                for data in rounds.counted:
                    copy.write(data)
            cursor.execute(hours.count_statement(f"SELECT {hours.COUNTED} FROM {COUNTING}"))  # noqa: S608
            inserted = int(cursor.fetchone()[0])
    except (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected):
        return None
    for problem in rounds.problems:
        log.warning("skipping a malformed event: %s", problem)
    return StoreResult(len(raws), inserted, len(rounds.problems), max(rounds.ids, default=None))


def _mapped(raw: Any, problems: list[str] | None = None) -> tuple[Any, ...] | None:
    """Return event_fields of one raw event, or None if it is not a usable event object: why is
    logged, or added to `problems` when given."""
    try:
        if not _is_mapping(raw):
            raise MalformedEvent(f"an event is a JSON object, not {type(raw).__name__}")
        return event_fields(raw)
    except MalformedEvent as exc:
        if problems is None:
            log.warning("skipping a malformed event: %s", exc)
        else:
            problems.append(str(exc))
        return None


def store_events(raw_events: Iterable[Any], engine: Engine | None = None) -> StoreResult:
    """Store the events not stored yet; count what was new and what could not be read."""
    raws, now, engine = list(raw_events), utcnow(), engine or db.engine
    if engine.dialect.name == "postgresql" and len(raws) >= DIRECT_FROM:
        stored = _store_direct(raws, now, engine)
        if stored is not None:
            return stored
    rows: dict[int, tuple[Any, ...]] = {}
    malformed = 0
    for raw in raws:
        row = _mapped(raw)
        if row is None:
            malformed += 1
            continue
        rows.setdefault(row[0], row)  # overlapping pages may repeat an event
    inserted = insert_rows(list(rows.values()), now, engine)
    return StoreResult(len(raws), inserted, malformed, max(rows, default=None))


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
