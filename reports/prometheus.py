"""Export the service's state as Prometheus metrics (the service's observability).

Values are read from the database and the shared rate governor at scrape time, so every web
process answers the same numbers and nothing needs prometheus_client's multiprocess mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select

from gh.access import rate_governor
from infra.extensions import db
from infra.runtime import redis_up, runtime
from models import JOB_COMPLETED, Commit, Event, EventSource, Project, RefreshJob, WebhookCount
from reports.projects import Concealed, detailed_ids, listed_condition, visible_events

PREFIX = "project_tracker"
JOB_STATUSES = ("queued", "running", "completed", "failed")


def _gauge(name: str, documentation: str, value: float | None) -> GaugeMetricFamily | None:
    if value is None:
        return None
    return GaugeMetricFamily(f"{PREFIX}_{name}", documentation, value=value)


def _count(model: Any, *conditions: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0


def _jobs() -> Iterator[Metric]:
    by_status = dict(db.session.execute(select(RefreshJob.status, func.count()).group_by(RefreshJob.status)).all())
    family = GaugeMetricFamily(f"{PREFIX}_refresh_jobs", "Refresh jobs by status.", labels=["status"])
    for status in JOB_STATUSES:
        family.add_metric([status], by_status.get(status, 0))
    yield family
    last = db.session.scalar(select(func.max(RefreshJob.completed_at)).where(RefreshJob.status == JOB_COMPLETED))
    gauge = _gauge("last_refresh_completed_timestamp_seconds", "When the last refresh completed (Unix time).",
                   last.timestamp() if last else None)  # fmt: skip
    if gauge is not None:
        yield gauge


def _event_sources() -> Iterator[Metric]:
    family = GaugeMetricFamily(
        f"{PREFIX}_event_source_last_status", "HTTP status of the last poll of an events source.", labels=["source"]
    )
    hidden = Concealed.of_reader().names
    rows = db.session.execute(select(EventSource.key, EventSource.path, EventSource.last_status))
    for key, path, status in rows:
        if status is not None and not any(name in f"{key} {path}".lower() for name in hidden):
            family.add_metric([key], status)
    yield family


def _webhooks() -> Iterator[Metric]:
    family = CounterMetricFamily(
        f"{PREFIX}_webhook_deliveries", "GitHub webhook deliveries by event and outcome.", labels=["event", "outcome"]
    )
    for event, outcome, total in db.session.execute(
        select(WebhookCount.event, WebhookCount.outcome, WebhookCount.count)
    ):
        family.add_metric([event, outcome], total)
    yield family


def _github() -> Iterator[Metric]:
    snapshot = rate_governor().snapshot()
    for field, doc in (("limit", "GitHub core rate limit."), ("remaining", "GitHub core requests left.")):
        gauge = _gauge(f"github_rate_{field}", doc, snapshot.get(field))
        if gauge is not None:
            yield gauge
    yield GaugeMetricFamily(f"{PREFIX}_github_paused", "1 while GitHub work is paused for a rate limit.",
                            value=1 if snapshot.get("paused_until") else 0)  # fmt: skip


class StateCollector:
    """A Prometheus collector over the database and the rate governor (call in an app context)."""

    def collect(self) -> Iterator[Metric]:
        listed = listed_condition()
        yield GaugeMetricFamily(f"{PREFIX}_projects", "Tracked projects (visible to the reader).",
                                value=_count(Project, listed))  # fmt: skip
        yield GaugeMetricFamily(f"{PREFIX}_projects_failing", "Projects whose last refresh failed (visible).",
                                value=_count(Project, listed, Project.last_error.is_not(None)))  # fmt: skip
        yield GaugeMetricFamily(f"{PREFIX}_commits_stored", "Commits stored (of projects the reader sees in detail).",
                                value=_count(Commit, Commit.project_id.in_(detailed_ids())))  # fmt: skip
        yield GaugeMetricFamily(f"{PREFIX}_events_stored", "GitHub events stored (visible to the reader).",
                                value=_count(Event, visible_events()))  # fmt: skip
        yield from _jobs()
        yield from _event_sources()
        yield from _webhooks()
        up = redis_up(runtime())
        if up is not None:
            yield GaugeMetricFamily(f"{PREFIX}_redis_up", "1 when the configured Redis answers.", value=int(up))
        if up is not False:
            yield from _github()
        queue = runtime().tasks.describe()
        pending = queue.get("queued_jobs", queue.get("active_jobs"))
        gauge = _gauge("queue_jobs", "Background jobs waiting (RQ) or in progress (embedded).", pending)
        if gauge is not None:
            yield gauge


def render() -> bytes:
    """Return the metrics in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector())
    return generate_latest(registry)
