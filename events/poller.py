"""Poll GitHub's Events API politely: one source at a time, conditionally, never twice at once.

A source is a feed of events (EVENT_SOURCES): `public` (GET /events), `repos` (every tracked,
non-paused project), `user` (the token owner), `repo:owner/name` and `user:login`. Its polling
state is an EventSource row. GitHub's rules (https://docs.github.com/en/rest/activity/events):
poll no more often than `X-Poll-Interval`, send the ETag back (a 304 is not charged), follow
`Link: rel="next"`, and expect at most 300 events per feed.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from events import store
from gh.access import github_client
from gh.names import name_problem, owner_problem
from gh.rules import GitHubBadResponse, GitHubError, GitHubRateLimited
from infra.extensions import db, upsert_ignore
from infra.redaction import redact
from infra.runtime import runtime
from models import EventSource, Project, utcnow

log = logging.getLogger(__name__)
PER_PAGE = 100
MAX_EVENTS = 300  # GitHub's window: "up to 300 events" per feed, i.e. 3 pages of 100
MAX_PAGES = 10  # a safety net should a server ignore per_page (30 a page → 10 pages)
POLL_JOB = "jobs.poll_events"
DISABLED = "none"


@dataclass(frozen=True)
class SourceSpec:
    """One feed to poll: its key (EventSource primary key) and API path ("" until resolved)."""

    key: str
    path: str


@dataclass
class WalkResult:
    """What one poll of a source fetched and stored."""

    status: int | None = None
    etag: str | None = None
    poll_interval: int | None = None
    pages: int = 0
    seen: int = 0
    inserted: int = 0
    malformed: int = 0
    newest_id: int | None = None
    notes: list[str] = field(default_factory=list)


def repo_source(owner: str, name: str) -> SourceSpec:
    """Return the source of one repository's events."""
    return SourceSpec(f"repo:{owner}/{name}", f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}/events")


def user_source(login: str) -> SourceSpec:
    """Return the source of one user's events."""
    return SourceSpec(f"user:{login}", f"/users/{quote(login, safe='')}/events")


def _explicit(entry: str) -> SourceSpec | None:
    """Return the source of `repo:owner/name` or `user:login` if it follows GitHub's naming rules."""
    kind, _, target = entry.partition(":")
    if kind == "repo":
        owner, _, name = target.partition("/")
        if owner_problem(owner) is None and name_problem(name) is None:
            return repo_source(owner, name)
    if kind == "user" and owner_problem(target) is None:
        return user_source(target)
    return None


def polling_enabled(entries: Iterable[str]) -> bool:
    """Tell whether EVENT_SOURCES names any source (`none` turns polling off)."""
    return any(e.strip() and e.strip() != DISABLED for e in entries)


def parse_sources(entries: Iterable[str], tracked: Iterable[tuple[str, str]]) -> tuple[list[SourceSpec], list[str]]:
    """Expand EVENT_SOURCES entries into sources (deduplicated, in order) and the entries rejected."""
    specs: dict[str, SourceSpec] = {}
    rejected: list[str] = []
    for entry in (e.strip() for e in entries):
        if entry == DISABLED:
            continue
        if entry == "public":
            found = [SourceSpec("public", "/events")]
        elif entry == "user":
            found = [SourceSpec("user", "")]  # the token owner's login is looked up when polled
        elif entry == "repos":
            found = [repo_source(owner, name) for owner, name in tracked]
        else:
            spec = _explicit(entry)
            found = [spec] if spec else []
            if spec is None:
                rejected.append(entry)
        for spec in found:
            specs.setdefault(spec.key, spec)
    return list(specs.values()), rejected


def configured_sources() -> list[SourceSpec]:
    """Return the sources EVENT_SOURCES names now (tracked projects read from the database)."""
    entries = runtime().settings.event_sources
    tracked: list[tuple[str, str]] = []
    if "repos" in entries:
        query = select(Project.owner, Project.name).where(Project.paused.is_(False)).order_by(Project.id)
        tracked = [(owner, name) for owner, name in db.session.execute(query)]
    specs, rejected = parse_sources(entries, tracked)
    for entry in rejected:
        log.warning("EVENT_SOURCES: ignoring %r (expected public, repos, user, repo:owner/name or user:login)", entry)
    return specs


def job_id_for(key: str) -> str:
    """Return the job id of a source's poll: readable, and unique per key."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", key).strip("-")[:80]
    return f"events-{slug}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def sync_sources(specs: list[SourceSpec]) -> None:
    """Create the EventSource rows of new sources (concurrent planners may race: conflicts are ignored)."""
    rows = [{"key": s.key, "path": s.path, "poll_interval": 60, "events_stored": 0} for s in specs]
    if rows:
        db.session.execute(upsert_ignore(db.engine.dialect.name, EventSource.__table__, ["key"]), rows)
        db.session.commit()


def due_keys(specs: list[SourceSpec], now: datetime) -> list[str]:
    """Return the keys of these sources whose next poll time has come."""
    keys = [s.key for s in specs]
    query = select(EventSource.key).where(
        EventSource.key.in_(keys), or_(EventSource.next_poll_at.is_(None), EventSource.next_poll_at <= now)
    )
    due = set(db.session.scalars(query))
    return [key for key in keys if key in due]


def enqueue_due_sources() -> list[str]:
    """Queue one poll job per due source (job id per source: a source is never polled twice at once)."""
    specs = configured_sources()
    sync_sources(specs)
    tasks = runtime().tasks
    queued = [
        key for key in due_keys(specs, utcnow()) if tasks.enqueue(POLL_JOB, key, job_id=job_id_for(key), retry=False)
    ]
    if queued:
        log.info("queued event polls: %s", ", ".join(queued))
    return queued


def claim(key: str, now: datetime) -> bool:
    """Take a due source for this poller (atomic: of two pollers, one wins); False when not due."""
    lease = timedelta(seconds=runtime().settings.github_max_pause + 600)
    statement = (
        update(EventSource)
        .where(EventSource.key == key, or_(EventSource.next_poll_at.is_(None), EventSource.next_poll_at <= now))
        .values(next_poll_at=now + lease)
    )
    claimed = db.session.execute(statement).rowcount == 1
    db.session.commit()
    return claimed


def resolve_path(spec: SourceSpec, client: Any) -> str:
    """Return the API path of a source; the token owner's (`user`) needs GET /user (a free 304 once cached)."""
    if spec.path:
        return spec.path
    login = client.authenticated_user().get("login")
    if not isinstance(login, str) or not login:
        raise GitHubBadResponse("GET /user: no login in the answer")
    return user_source(login).path


def _poll_interval(headers: dict[str, str]) -> int | None:
    try:
        return max(1, int(headers["x-poll-interval"]))
    except (KeyError, ValueError):
        return None


def walk(client: Any, path: str, result: WalkResult, stop_when_known: bool = True) -> WalkResult:
    """Fetch the pages of a feed, newest first, storing new events, until a page holds nothing new."""
    for page in client.paginate(path, {"per_page": PER_PAGE}, max_items=MAX_EVENTS):
        if result.pages == 0:
            result.status, result.etag = page.status, page.etag
            result.poll_interval = _poll_interval(page.headers)
        result.pages += 1
        if not isinstance(page.data, list):
            raise GitHubBadResponse(f"GET {path}: page {result.pages} is not a JSON list of events")
        stored = store.store_events(page.data)
        result.seen += stored.seen
        result.inserted += stored.inserted
        result.malformed += stored.malformed
        result.newest_id = max(filter(None, (result.newest_id, stored.newest_id)), default=None)
        if (stop_when_known and stored.inserted == 0) or result.pages >= MAX_PAGES:
            break  # older pages were stored by an earlier poll
    return result


def _interval(source: EventSource, result: WalkResult | None) -> timedelta:
    """Return the wait before the next poll: GitHub's X-Poll-Interval, never below EVENTS_POLL_SECONDS."""
    if result is not None and result.poll_interval:
        source.poll_interval = result.poll_interval
    return timedelta(seconds=max(source.poll_interval or 60, runtime().settings.events_poll_seconds))


def record_success(key: str, path: str, started: datetime, result: WalkResult) -> None:
    """Save a poll's outcome on the source: validators, interval, counts; clear the last error."""
    source = db.session.get(EventSource, key)
    if source is None:
        return
    source.path, source.last_polled_at = path, started
    source.next_poll_at = started + _interval(source, result)
    source.etag = result.etag or source.etag
    source.last_status = result.status
    source.last_error = "; ".join(result.notes) or None
    source.events_stored = (source.events_stored or 0) + result.inserted
    source.newest_event_id = max(filter(None, (source.newest_event_id, result.newest_id)), default=None)
    db.session.commit()


def record_failure(key: str, started: datetime, error: Exception, inserted: int = 0) -> str:
    """Save a failed poll on the source (redacted) and when to try again; return the message."""
    db.session.rollback()
    message = redact(getattr(error, "message", None) or str(error) or type(error).__name__,
                     runtime().settings.secrets())  # fmt: skip
    source = db.session.get(EventSource, key)
    if source is not None:
        retry = started + _interval(source, None)
        if isinstance(error, GitHubRateLimited) and error.retry_at is not None:
            retry = max(retry, error.retry_at)
        source.last_polled_at, source.next_poll_at = started, retry
        source.last_status = getattr(error, "status", None)
        source.last_error = message[:2000]
        source.events_stored = (source.events_stored or 0) + inserted
        db.session.commit()
    log.warning("events poll of %s failed: %s", key, message)
    return message


def poll_source(key: str, client: Any = None) -> WalkResult | None:
    """Poll one source if it is configured and due; failures are recorded on its row, never raised."""
    spec = next((s for s in configured_sources() if s.key == key), None)
    if spec is None:
        log.info("events source %s is no longer configured: not polled", key)
        return None
    sync_sources([spec])
    started = utcnow()
    if not claim(key, started):
        return None
    source = db.session.get(EventSource, key)
    # After a failed poll, walk the whole window once: a page the failure cut off may hold new events.
    complete = source is not None and source.last_error is None and source.last_status in (200, 304)
    db.session.commit()  # end the read transaction: the walk may take minutes (rate-limit sleeps)
    result = WalkResult()
    try:
        client = client or github_client()
        path = resolve_path(spec, client)
        walk(client, path, result, stop_when_known=complete)
    except (GitHubError, SQLAlchemyError) as exc:
        record_failure(key, started, exc, result.inserted)
        return None
    except Exception as exc:
        log.exception("events poll of %s crashed", key)
        error = RuntimeError(f"Internal error while polling ({type(exc).__name__})")
        record_failure(key, started, error, result.inserted)
        return None
    if result.malformed:
        result.notes.append(f"{result.malformed} malformed events skipped")
    record_success(key, path, started, result)
    log.info("events %s: %d new of %d (%d pages, status %s)", key, result.inserted, result.seen, result.pages,
             result.status)  # fmt: skip
    return result
