"""Schedule periodic work: full refreshes, stale-job reaping (and event polls).

In the embedded default the scheduler runs in the web process; in production the `clock`
process runs it and enqueues onto RQ. A Redis lock taken per tick makes sure that two clock
instances never both fire the same tick.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy import select

from events import poller
from infra.extensions import db
from infra.runtime import runtime
from models import JOB_COMPLETED, RefreshJob, utcnow
from refresh import lifecycle

log = logging.getLogger(__name__)
REAP_SECONDS = 60
EVENTS_TICK_SECONDS = 15  # how often due event sources are looked for (each has its own interval)
EVENTS_PRUNE_SECONDS = 3600


def acquire_tick(name: str, period_seconds: float) -> bool:
    """Take the tick of `name` for most of its period; False when another instance has it."""
    redis = runtime().redis
    if redis is None:
        return True
    ttl = max(1, int(period_seconds * 0.9))
    return bool(redis.set(f"pt:tick:{name}", f"{os.getpid()}", nx=True, ex=ttl))


def refresh_is_due(interval: timedelta) -> bool:
    """Tell whether the last completed full refresh is older than the interval (or missing)."""
    last = db.session.scalar(
        select(RefreshJob.completed_at)
        .where(RefreshJob.scope == "all", RefreshJob.status == JOB_COMPLETED)
        .order_by(RefreshJob.completed_at.desc())
        .limit(1)
    )
    return last is None or utcnow() - last >= interval * 0.95


def scheduled_refresh() -> None:
    """Start a full refresh if one is due and this instance holds the tick."""
    settings = runtime().settings
    interval = timedelta(hours=settings.refresh_interval_hours)
    if not settings.github_token:
        log.info("scheduled refresh skipped: GITHUB_ACCESS_TOKEN is not set")
    elif not refresh_is_due(interval):
        log.info("scheduled refresh skipped: the last one is recent")
    elif not acquire_tick("refresh", interval.total_seconds()):
        log.info("scheduled refresh skipped: another instance took this tick")
    else:
        job, outcome = lifecycle.start_refresh(trigger="schedule")
        log.info("scheduled refresh %s (job %s)", outcome, job.id)


def scheduled_reap() -> None:
    """Resume or fail refresh jobs whose workers were lost."""
    if acquire_tick("reap", REAP_SECONDS):
        lifecycle.reap_stale_jobs()


def scheduled_event_polls() -> None:
    """Queue the polls of due event sources if this instance holds the tick."""
    if acquire_tick("events", EVENTS_TICK_SECONDS):
        poller.enqueue_due_sources()


def scheduled_event_prune() -> None:
    """Queue the deletion of events past EVENTS_RETENTION_DAYS if this instance holds the tick."""
    if acquire_tick("events-prune", EVENTS_PRUNE_SECONDS):
        runtime().tasks.enqueue("jobs.prune_events", job_id="events-prune", retry=False)


def in_app(app: Flask, func: Callable[[], None]) -> Callable[[], None]:
    """Wrap a tick so it runs inside the app context and never kills the scheduler."""

    def run() -> None:
        with app.app_context():
            try:
                func()
            except Exception:
                log.exception("scheduled %s failed", func.__name__)
            finally:
                db.session.remove()

    run.__name__ = func.__name__
    return run


def add_jobs(scheduler: BaseScheduler, app: Flask) -> None:
    """Register the periodic jobs; the refresh check runs hourly at most, and soon after start."""
    settings = runtime(app).settings
    now = utcnow()
    # (function, every seconds, first run after seconds or None for one period)
    ticks: list[tuple[Callable[[], None], float, float | None]] = [
        (scheduled_refresh, min(3600.0, settings.refresh_interval_hours * 3600 / 4), 5),
        (scheduled_reap, REAP_SECONDS, None),
    ]
    if poller.polling_enabled(settings.event_sources):
        ticks.append((scheduled_event_polls, EVENTS_TICK_SECONDS, 10))
    if settings.events_retention_days > 0:
        ticks.append((scheduled_event_prune, EVENTS_PRUNE_SECONDS, None))
    for func, every, first in ticks:
        # APScheduler reads next_run_time=None as "paused": leave it out for the default first run.
        start = {"next_run_time": now + timedelta(seconds=first)} if first is not None else {}
        scheduler.add_job(in_app(app, func), IntervalTrigger(seconds=every), id=func.__name__, name=func.__name__,
                          coalesce=True, max_instances=1, **start)  # fmt: skip


def start_in_process(app: Flask) -> BackgroundScheduler:
    """Start the scheduler in a daemon thread of this process (the embedded default)."""
    scheduler = BackgroundScheduler(daemon=True, timezone="UTC")
    add_jobs(scheduler, app)
    scheduler.start()
    runtime(app).scheduler = scheduler
    log.info("scheduler started in-process")
    return scheduler
