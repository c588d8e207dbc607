"""Compute seed 003's event metrics in SQL, never rows in Python: from the per-hour (`event_hours`) and
per-repository (`event_repos`) counts kept at ingest, and the raw events only where they cannot answer.

Definitions (CONTRACT.md, "Seed 003 event metrics (fixed)"): the average time between adjacent
events is (newest - oldest) / (n - 1) seconds, 2 dp, null below 2 events; counts are per type
within the last `offset` seconds; busy repositories have strictly more than a minimum of events.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, select

from analysis import metrics
from events import hours
from events.kinds import EVENT_TYPES, LEGACY_COUNT_KEYS, count_key
from infra.extensions import db
from models import Event, EventHour, EventRepo, utcnow

ALL = "all"


@dataclass(frozen=True)
class EventFilter:
    """The filters every event query accepts; None means "any"."""

    event_type: str | None = None
    action: str | None = None
    repository_name: str | None = None
    since: datetime | None = None
    # What the reader may see, from the visibility rule (reports/projects.py, `event_visibility`):
    # `visible` selects the events shown (None: all) and `visible_repos` their `event_repos` rows;
    # `public_only` reads only the public hours of `event_hours`; `concealed` selects the public
    # events those hours count that are still not shown (`concealed_repos`: their `event_repos` rows).
    visible: Any = None
    visible_repos: Any = None
    public_only: bool = False
    concealed: Any = None
    concealed_repos: Any = None

    def repo_conditions(self) -> list[ColumnElement[bool]]:
        """Return the WHERE clauses of these filters on `event_repos` (no window: it has none)."""
        where: list[ColumnElement[bool]] = []
        if self.visible_repos is not None:
            where.append(self.visible_repos)
        where += self.repo_kind_conditions()
        if self.repository_name is not None:
            where.append(EventRepo.repo_name == self.repository_name)
        return where

    def repo_kind_conditions(self) -> list[ColumnElement[bool]]:
        """Return the WHERE clauses of the type and action filters on `event_repos`."""
        where: list[ColumnElement[bool]] = []
        if self.event_type is not None:
            where.append(EventRepo.type == self.event_type)
        if self.action is not None:
            where.append(EventRepo.action == self.action.lower())
        return where

    def conditions(self) -> list[ColumnElement[bool]]:
        """Return the WHERE clauses of these filters."""
        where = self.kind_conditions()
        if self.visible is not None:
            where.append(self.visible)
        if self.repository_name is not None:
            where.append(Event.repo_name == self.repository_name)
        if self.since is not None:
            where.append(Event.created_at >= self.since)
        return where

    def kind_conditions(self) -> list[ColumnElement[bool]]:
        """Return the WHERE clauses of the type and action filters."""
        where: list[ColumnElement[bool]] = []
        if self.event_type is not None:
            where.append(Event.type == self.event_type)
        if self.action is not None:
            where.append(Event.action == self.action.lower())  # stored lower-case: case-insensitive match
        return where


@dataclass(frozen=True)
class Span:
    """How many events matched and when the first and last happened."""

    count: int
    oldest: datetime | None
    newest: datetime | None

    @property
    def avg_gap(self) -> float | None:
        """Return the mean gap between adjacent events in seconds, 2 dp (half up); None below 2 events."""
        return average_gap(self.oldest, self.newest, self.count)


def average_gap(oldest: datetime | None, newest: datetime | None, count: int) -> float | None:
    """Return (newest - oldest) / (count - 1) seconds rounded half up to 2 dp; None below 2 events."""
    if count < 2 or oldest is None or newest is None:
        return None
    micros = Decimal((newest - oldest) // timedelta(microseconds=1))
    return float((micros / Decimal(1_000_000) / (count - 1)).quantize(Decimal("0.01"), ROUND_HALF_UP))


def window_start(offset_seconds: int, now: datetime | None = None) -> datetime:
    """Return the start of the window of the last `offset_seconds`."""
    return (now or utcnow()) - timedelta(seconds=offset_seconds)


def _merge(a: Span, b: Span) -> Span:
    olds = [t for t in (a.oldest, b.oldest) if t is not None]
    news = [t for t in (a.newest, b.newest) if t is not None]
    return Span(a.count + b.count, min(olds, default=None), max(news, default=None))


def _raw_spans(filters: EventFilter, until: datetime | None = None, *extra: ColumnElement[bool]) -> dict[str, Span]:
    """Spans by type from the raw events (optionally only those before `until`, and matching `extra`)."""
    where = filters.conditions() + ([Event.created_at < until] if until is not None else []) + list(extra)
    query = (
        select(Event.type, func.count(), func.min(Event.created_at), func.max(Event.created_at))
        .where(*where)
        .group_by(Event.type)
    )
    return {kind: Span(count, oldest, newest) for kind, count, oldest, newest in db.session.execute(query)}


def _hour_spans(filters: EventFilter, start: datetime | None) -> dict[str, Span]:
    """Spans by type from `event_hours`, over whole hours from `start` on."""
    where: list[ColumnElement[bool]] = []
    if filters.event_type is not None:
        where.append(EventHour.type == filters.event_type)
    if filters.action is not None:
        where.append(EventHour.action == filters.action.lower())
    if start is not None:
        where.append(EventHour.hour >= start)
    if filters.public_only:
        where.append(EventHour.public.is_(True))
    query = (
        select(EventHour.type, func.sum(EventHour.count), func.min(EventHour.oldest), func.max(EventHour.newest))
        .where(*where)
        .group_by(EventHour.type)
    )
    return {kind: Span(int(count), oldest, newest) for kind, count, oldest, newest in db.session.execute(query)}


def _repo_spans(filters: EventFilter) -> dict[str, Span]:
    """Spans by type from `event_repos` (every time: it has no window)."""
    query = (
        select(EventRepo.type, func.sum(EventRepo.count), func.min(EventRepo.oldest), func.max(EventRepo.newest))
        .where(*filters.repo_conditions())
        .group_by(EventRepo.type)
    )
    return {kind: Span(int(count), oldest, newest) for kind, count, oldest, newest in db.session.execute(query)}


def _windowed(filters: EventFilter, wholes: dict[str, Span]) -> dict[str, Span]:
    """Cut each type's span of every time (from `event_repos`) to the filters' window, reading the smaller side.

    A window that starts before a type's first event keeps it all and one after its last keeps
    nothing; otherwise either the type's events in the window are counted, or (when the time-uniform
    estimate puts fewer before the start) those before it, taken from the whole, with the oldest in
    the window found by one index probe. All types are read in one statement of scalar subqueries.
    """
    since = filters.since
    if since is None:
        return wholes
    found: dict[str, Span] = {}
    columns: list[Any] = []
    plans: list[tuple[str, bool, Span]] = []  # (type, counted from the whole, whole)
    for kind, whole in wholes.items():
        if whole.oldest is None or whole.newest is None or since <= whole.oldest:
            found[kind] = whole
            continue
        if since > whole.newest:
            continue
        inside = replace(filters, event_type=kind).conditions()
        share = (since - whole.oldest) / max(whole.newest - whole.oldest, timedelta(microseconds=1))
        if share < 0.5:
            before = [*replace(filters, event_type=kind, since=None).conditions(), Event.created_at < since]
            columns += [select(func.count()).where(*before).scalar_subquery(),
                        select(func.min(Event.created_at)).where(*inside).scalar_subquery()]  # fmt: skip
        else:
            columns += [select(func.count()).where(*inside).scalar_subquery(),
                        select(func.min(Event.created_at)).where(*inside).scalar_subquery(),
                        select(func.max(Event.created_at)).where(*inside).scalar_subquery()]  # fmt: skip
        plans.append((kind, share < 0.5, whole))
    values = list(db.session.execute(select(*columns)).one()) if columns else []
    for kind, from_whole, whole in plans:
        if from_whole:
            earlier, oldest = values.pop(0), values.pop(0)
            found[kind] = Span(whole.count - earlier, oldest, whole.newest)
        else:
            count, oldest, newest = values.pop(0), values.pop(0), values.pop(0)
            found[kind] = Span(count or 0, oldest, newest)
    return found


def _drop_concealed(found: dict[str, Span], filters: EventFilter, start: datetime | None) -> None:
    """Take out of the hours' spans the public events the reader may not see (`filters.concealed`).

    Their spans by type are those of their `event_repos` rows cut to the hours' region (from
    `start` on) like a repository's window (`_windowed`: only the smaller side of `start` is read
    from the events, through the index on GitHub id and time). Counts are subtracted; an oldest or
    newest time that may be such an event is looked up again among the visible events (one index
    probe on time).
    """
    if filters.concealed is None:
        return
    region = [Event.created_at >= start] if start is not None else []
    when = Event.created_at
    if filters.concealed_repos is not None:
        counters = select(
            EventRepo.type, func.sum(EventRepo.count), func.min(EventRepo.oldest), func.max(EventRepo.newest)
        ).where(*filters.repo_kind_conditions(), filters.concealed_repos)
        wholes = {
            kind: Span(int(n), lo, hi) for kind, n, lo, hi in db.session.execute(counters.group_by(EventRepo.type))
        }
        hidden = _windowed(replace(filters, visible=filters.concealed, repository_name=None, since=start), wholes)
    else:
        query = select(Event.type, func.count(), func.min(when), func.max(when))
        query = query.where(*filters.kind_conditions(), *region, filters.concealed).group_by(Event.type)
        hidden = {kind: Span(n, lo, hi) for kind, n, lo, hi in db.session.execute(query)}
    for kind, gone in hidden.items():
        total = found.get(kind)
        if not gone.count or gone.oldest is None or gone.newest is None:
            continue
        if total is None or total.oldest is None or total.newest is None or total.count <= gone.count:
            found.pop(kind, None)
            continue
        where = [*replace(filters, event_type=kind, since=None).conditions(), *region]
        oldest = total.oldest if gone.oldest > total.oldest else db.session.scalar(select(func.min(when)).where(*where))
        newest = total.newest if gone.newest < total.newest else db.session.scalar(select(func.max(when)).where(*where))
        found[kind] = Span(total.count - gone.count, oldest, newest)


def spans_by_type(filters: EventFilter) -> dict[str, Span]:
    """Return the span of the matching events of each type present, in type order.

    A repository's spans come from `event_repos` (only the rows the reader may see), cut to the
    window type by type. Over all repositories the whole hours of the window are read from
    `event_hours` (only the public ones for an anonymous reader, less the public events of
    concealed repositories) and only the partial hour at its start from the events.
    """
    if filters.repository_name is not None:
        found = _windowed(filters, _repo_spans(filters))
    else:
        start = hours.next_hour(filters.since) if filters.since is not None else None
        found = _hour_spans(filters, start)
        _drop_concealed(found, filters, start)
        if start is not None and start != filters.since:
            for kind, partial in _raw_spans(filters, until=start).items():
                found[kind] = _merge(found.get(kind, Span(0, None, None)), partial)
    return {kind: found[kind] for kind in sorted(found) if found[kind].count}


def span(filters: EventFilter) -> Span:
    """Count the matching events and find the oldest and newest."""
    total = Span(0, None, None)
    for found in spans_by_type(filters).values():
        total = _merge(total, found)
    return total


def avg_time(filters: EventFilter) -> dict[str, Any]:
    """Return seed 003's average-time metric (a null average below 2 events, not an error)."""
    found = span(filters)
    return {
        "oldest_event_time": metrics.iso(found.oldest),
        "repository_name": filters.repository_name or ALL,
        "events_count": found.count,
        "avg_time": found.avg_gap,
        "event_type": filters.event_type,
        "newest_event_time": metrics.iso(found.newest),
    }


def count_keys(present: list[str]) -> list[str]:
    """Return the `events_count` keys in order: seed 003's three, every other type by name, `total`."""
    others = sorted((set(EVENT_TYPES) | set(present)) - set(LEGACY_COUNT_KEYS))
    return [*LEGACY_COUNT_KEYS.values(), *others, "total"]


def total_count(filters: EventFilter) -> dict[str, Any]:
    """Return seed 003's counts per type within the filters' window; `oldest_event_time` respects the filters."""
    found = spans_by_type(filters)
    counts = dict.fromkeys(count_keys(list(found)), 0)
    for kind, kind_span in found.items():
        counts[count_key(kind)] += kind_span.count
    counts["total"] = sum(s.count for s in found.values())
    oldest = min((s.oldest for s in found.values() if s.oldest is not None), default=None)
    return {
        "oldest_event_time": metrics.iso(oldest),
        "repository_name": filters.repository_name or ALL,
        "events_count": counts,
    }


def multiple_events_repos(filters: EventFilter, minimal_events_count: int) -> dict[str, Any]:
    """Return repositories with strictly more than `minimal_events_count` events of a type (busiest first)."""
    total = func.sum(EventRepo.count)
    query = (
        select(EventRepo.repo_name, total.label("n"))
        .where(*filters.repo_conditions(), EventRepo.repo_name != "")
        .group_by(EventRepo.repo_name)
        .having(total > minimal_events_count)
        .order_by(total.desc(), EventRepo.repo_name)
    )
    repositories = {name: int(n) for name, n in db.session.execute(query)}
    return {"event_type": filters.event_type, "repositories": repositories}


NEWEST_FIRST = (Event.created_at.desc(), Event.id.desc())


def event_json(event: Event) -> dict[str, Any]:
    """Serialise a stored event."""
    return {
        "id": event.id,
        "type": event.type,
        "action": event.action,
        "repository_id": event.repo_id,
        "repository_name": event.repo_name,
        "actor_id": event.actor_id,
        "actor_login": event.actor_login,
        "created_at": metrics.iso(event.created_at),
        "inserted_at": metrics.iso(event.inserted_at),
        "payload": event.payload,
    }


def list_events(filters: EventFilter, page: int, per_page: int) -> dict[str, Any]:
    """Return one page of matching events, newest first, with the total count."""
    total = span(filters).count  # from the per-hour and per-repository counts, not a count of rows
    query = select(Event).where(*filters.conditions()).order_by(*NEWEST_FIRST)
    found = db.session.scalars(query.offset((page - 1) * per_page).limit(per_page)) if total else []
    return {
        "events": [event_json(e) for e in found],
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": (total + per_page - 1) // per_page,  # 0 when nothing matches (unlike Page.pages)
    }


def recent_times(filters: EventFilter, limit: int) -> list[datetime]:
    """Return the creation times of the newest `limit` matching events, oldest first (chart points)."""
    query = select(Event.created_at).where(*filters.conditions()).order_by(Event.created_at.desc()).limit(limit)
    return sorted(db.session.scalars(query))
