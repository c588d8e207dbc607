"""Optional OpenTelemetry tracing and the log context (job and repository ids) of every record.

Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT is set: spans go over OTLP/HTTP to
`<endpoint>/v1/traces`, Flask, SQLAlchemy, requests and Redis are instrumented by their official
instrumentations, and `span()` marks the service's own work (RQ jobs, GitHub calls, git and cloc).
With it unset nothing of OpenTelemetry is imported: `span()` is a no-op context manager.

A job's trace context travels as a W3C `traceparent` carrier (`carrier()` when enqueuing,
`job_span(..., parent=carrier)` when running), so one request and the jobs it started are one trace.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from settings import Settings

log = logging.getLogger(__name__)
JOB_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("pt_job_id", default=None)
REPOSITORY_ID: contextvars.ContextVar[int | None] = contextvars.ContextVar("pt_repository_id", default=None)
_state: dict[str, Any] = {}  # "provider" and "tracer" once tracing is on in this process


def enabled() -> bool:
    return "tracer" in _state


def setup(settings: Settings) -> None:
    """Start tracing in this process when OTEL_EXPORTER_OTLP_ENDPOINT is set (idempotent)."""
    if not settings.otel_endpoint or enabled():
        return
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service_name}))
    endpoint = settings.otel_endpoint.rstrip("/") + "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    RequestsInstrumentor().instrument(tracer_provider=provider)
    RedisInstrumentor().instrument(tracer_provider=provider)
    _state["provider"] = provider
    _state["tracer"] = trace.get_tracer("project-tracker", tracer_provider=provider)


def instrument_app(app: Any, engine: Any) -> None:
    """Instrument one Flask app and its SQLAlchemy engine (when tracing is on)."""
    if not enabled():
        return
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    FlaskInstrumentor.instrument_app(app, tracer_provider=_state["provider"])
    SQLAlchemyInstrumentor().instrument(engine=engine, tracer_provider=_state["provider"])


def flush(timeout_ms: int = 10_000) -> None:
    """Export the finished spans now (a forked RQ work-horse exits right after its job)."""
    if enabled():
        _state["provider"].force_flush(timeout_ms)


def shutdown() -> None:
    """Stop tracing in this process: flush, remove the global instrumentations (tests)."""
    if not enabled():
        return
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    RequestsInstrumentor().uninstrument()
    RedisInstrumentor().uninstrument()
    _state.pop("tracer")
    _state.pop("provider").shutdown()


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[None]:
    """Record a span around the block (a no-op when tracing is off)."""
    if not enabled():
        yield
        return
    with _state["tracer"].start_as_current_span(name, attributes=_clean(attributes)):
        yield


def carrier() -> dict[str, str]:
    """Return the current trace context as W3C headers, to travel with a queued job."""
    if not enabled():
        return {}
    from opentelemetry.propagate import inject

    headers: dict[str, str] = {}
    inject(headers)
    return headers


@contextmanager
def job_span(name: str, job_id: str, parent: Mapping[str, str] | None) -> Iterator[None]:
    """Run a queued job under its own span, child of the context it was queued in; set JOB_ID."""
    token = JOB_ID.set(job_id)
    try:
        if not enabled():
            yield
            return
        from opentelemetry import context
        from opentelemetry.propagate import extract
        from opentelemetry.trace import SpanKind

        attached = context.attach(extract(dict(parent or {})))
        try:
            with _state["tracer"].start_as_current_span(
                f"job {name}", kind=SpanKind.CONSUMER, attributes={"messaging.message.id": job_id}
            ):
                yield
        finally:
            context.detach(attached)
            flush()
    finally:
        JOB_ID.reset(token)


@contextmanager
def repository(project_id: int) -> Iterator[None]:
    """Mark the block as work on one repository (log records and the current span carry its id)."""
    token = REPOSITORY_ID.set(project_id)
    try:
        with span("refresh repository", **{"tracker.repository_id": project_id}):
            yield
    finally:
        REPOSITORY_ID.reset(token)


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, str | bool | int | float) else str(v) for k, v in attributes.items()}


def _trace_ids() -> tuple[str | None, str | None]:
    if not enabled():
        return None, None
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, trace/span, job and repository ids."""

    def format(self, record: logging.LogRecord) -> str:
        trace_id, span_id = _trace_ids()
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": trace_id,
            "span_id": span_id,
            "job_id": JOB_ID.get(),
            "repository_id": REPOSITORY_ID.get(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_log_format(log_format: str) -> None:
    """Use JSON lines on every root handler when LOG_FORMAT=json."""
    if log_format != "json":
        return
    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonFormatter())
