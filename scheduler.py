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

import refresh_jobs
from extensions import db
from models import JOB_COMPLETED, RefreshJob, utcnow
from runtime import runtime

log = logging.getLogger(__name__)
REAP_SECONDS = 60


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
        return
    if refresh_is_due(interval) and acquire_tick("refresh", interval.total_seconds()):
        job, outcome = refresh_jobs.start_refresh(trigger="schedule")
        log.info("scheduled refresh: %s (job %s)", outcome, job.id)


def scheduled_reap() -> None:
    """Resume or fail refresh jobs whose workers were lost."""
    if acquire_tick("reap", REAP_SECONDS):
        refresh_jobs.reap_stale_jobs()


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
    """Register the periodic jobs; the refresh check runs hourly at most, and once at start."""
    settings = runtime(app).settings
    check_every = min(3600.0, settings.refresh_interval_hours * 3600 / 4)
    now = utcnow()
    scheduler.add_job(in_app(app, scheduled_refresh), IntervalTrigger(seconds=check_every), id="refresh",
                      next_run_time=now + timedelta(seconds=5), coalesce=True, max_instances=1)  # fmt: skip
    scheduler.add_job(in_app(app, scheduled_reap), IntervalTrigger(seconds=REAP_SECONDS), id="reap",
                      coalesce=True, max_instances=1)  # fmt: skip
    for extra in runtime(app).extras.get("scheduled", []):
        extra(scheduler, app)


def start_in_process(app: Flask) -> BackgroundScheduler:
    """Start the scheduler in a daemon thread of this process (the embedded default)."""
    scheduler = BackgroundScheduler(daemon=True, timezone="UTC")
    add_jobs(scheduler, app)
    scheduler.start()
    runtime(app).scheduler = scheduler
    log.info("scheduler started in-process")
    return scheduler
