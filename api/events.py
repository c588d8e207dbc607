"""Serve stored GitHub events and the event metrics over them (JSON)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from analysis import metrics
from api.auth import LIMITED, costly_limit
from api.fields import query_text
from events import queries
from events.kinds import EventType
from events.queries import EventFilter
from infra.admin import request_is_admin
from infra.extensions import db, limiter
from models import MAX_INT32, EventSource
from reports import projects

bp = APIBlueprint("events", __name__, tag="Events")
MAX_OFFSET = 10**10  # seconds (~317 years): a window start far before GitHub, still a valid date


class FilterQuery(BaseModel):
    """Filters shared by the event endpoints and chart pages."""

    model_config = ConfigDict(extra="forbid")
    action: query_text(64) | None = Field(None, description="Payload action, case-insensitive.")  # type: ignore[valid-type]
    repository_name: query_text(140) | None = Field(None, description="Exact `owner/name`.")  # type: ignore[valid-type]

    def filters(self, **extra: Any) -> EventFilter:
        """Return these filters for queries, leaving out the repositories the reader may not see."""
        return EventFilter(action=self.action, repository_name=self.repository_name, **readable(), **extra)


def readable() -> dict[str, Any]:
    """Return the EventFilter fields that leave out the events the reader may not see (private or concealed)."""
    return projects.event_visibility()


def source_readable(key: str, path: str, hidden: set[str]) -> bool:
    """Tell whether an event source names none of the repositories the reader may not see."""
    text = f"{key} {path}".lower()
    return not any(name in text for name in hidden)


class AvgTimeQuery(FilterQuery):
    event_type: EventType | None = Field(None, description="A GitHub event type; every type when absent.")


class TotalCountQuery(FilterQuery):
    offset: int = Field(gt=0, le=MAX_OFFSET, description="Window: events created in the last `offset` seconds.")


class MultipleReposQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_type: EventType = Field(description="A GitHub event type.")
    minimal_events_count: int = Field(
        2, ge=1, le=MAX_INT32, description="Repositories with strictly more events are listed."
    )


class ListQuery(AvgTimeQuery):
    offset: int | None = Field(None, gt=0, le=MAX_OFFSET, description="Only events of the last `offset` seconds.")
    page: int = Field(1, ge=1, le=100_000)
    per_page: int = Field(50, ge=1, le=100)


class AvgTimeOut(BaseModel):
    oldest_event_time: str | None = Field(description="Creation time of the oldest matching event.")
    repository_name: str = Field(description='The filter, or "all".')
    events_count: int
    avg_time: float | None = Field(description="Mean seconds between adjacent events, 2 dp; null below 2 events.")
    event_type: str | None
    newest_event_time: str | None


class TotalCountOut(BaseModel):
    oldest_event_time: str | None = Field(description="Oldest event in the window that matches the filters.")
    repository_name: str
    events_count: dict[str, int] = Field(
        description="pr_event, watch_event, issue_event, every other type by its GitHub name, and total."
    )


class MultipleReposOut(BaseModel):
    event_type: str
    repositories: dict[str, int] = Field(description="owner/name → number of events of the type.")


class EventOut(BaseModel):
    id: int
    type: str
    action: str | None
    repository_id: int | None
    repository_name: str | None
    actor_id: int | None
    actor_login: str | None
    created_at: str | None
    inserted_at: str | None
    payload: Any


class EventPage(BaseModel):
    events: list[EventOut]
    page: int
    per_page: int
    total: int
    pages: int


class SourceOut(BaseModel):
    key: str
    path: str
    poll_interval: int
    last_polled_at: str | None
    next_poll_at: str | None
    last_status: int | None
    last_error: str | None
    events_stored: int
    newest_event_id: int | None


def since(offset: int | None) -> Any:
    """Return the start of the window of the last `offset` seconds (None: no window)."""
    return queries.window_start(offset) if offset else None


DEEP_OFFSET = 1000  # events skipped by a page beyond which an anonymous list is a costly read


def shallow_page() -> bool:
    """Tell whether an event list escapes the costly-read limit: the admin's, or within the first DEEP_OFFSET events."""
    if request_is_admin():
        return True
    try:
        page, per_page = int(request.args.get("page", 1)), int(request.args.get("per_page", 50))
    except ValueError:
        return True  # refused with 422 anyway
    return (page - 1) * per_page < DEEP_OFFSET


@bp.get("/api/events")
@limiter.limit(costly_limit, exempt_when=shallow_page)
@bp.input(ListQuery, location="query", arg_name="query")
@bp.output(EventPage)
@bp.doc(responses=LIMITED)
def list_events(query: ListQuery) -> dict[str, Any]:
    """List stored events, newest first, filtered and paginated."""
    filters = query.filters(event_type=query.event_type, since=since(query.offset))
    return queries.list_events(filters, query.page, query.per_page)


@bp.get("/api/events/metrics/avg-time")
@bp.input(AvgTimeQuery, location="query", arg_name="query")
@bp.output(AvgTimeOut)
def avg_time(query: AvgTimeQuery) -> dict[str, Any]:
    """Return the average time between adjacent matching events."""
    return queries.avg_time(query.filters(event_type=query.event_type))


@bp.get("/api/events/metrics/total-count")
@bp.input(TotalCountQuery, location="query", arg_name="query")
@bp.output(TotalCountOut)
def total_count(query: TotalCountQuery) -> dict[str, Any]:
    """Count matching events per type within the last `offset` seconds."""
    return queries.total_count(query.filters(since=since(query.offset)))


@bp.get("/api/events/metrics/multiple-events-repos")
@bp.input(MultipleReposQuery, location="query", arg_name="query")
@bp.output(MultipleReposOut)
def multiple_events_repos(query: MultipleReposQuery) -> dict[str, Any]:
    """List repositories with more than `minimal_events_count` events of a type."""
    filters = EventFilter(event_type=query.event_type, **readable())
    return queries.multiple_events_repos(filters, query.minimal_events_count)


@bp.get("/api/events/sources")
@bp.output(list[SourceOut])
def list_sources() -> list[dict[str, Any]]:
    """List the polled event sources with their last outcome."""
    hidden = projects.concealed_names()
    found = db.session.scalars(select(EventSource).order_by(EventSource.key))
    sources = [s for s in found if source_readable(s.key, s.path, hidden)]
    return [
        {
            "key": s.key,
            "path": s.path,
            "poll_interval": s.poll_interval,
            "last_polled_at": metrics.iso(s.last_polled_at),
            "next_poll_at": metrics.iso(s.next_poll_at),
            "last_status": s.last_status,
            "last_error": s.last_error,
            "events_stored": s.events_stored or 0,
            "newest_event_id": s.newest_event_id,
        }
        for s in sources
    ]
