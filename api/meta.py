"""Serve the service's own description: `GET /` (endpoint listing) and `GET /api/health`."""

from __future__ import annotations

import logging
from typing import Any

from apiflask import APIBlueprint
from flask import Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from gh.access import rate_governor
from infra.extensions import db
from infra.runtime import redis_up, runtime
from reports import prometheus

bp = APIBlueprint("meta", __name__, tag="Service")
log = logging.getLogger(__name__)
HIDDEN_PREFIXES = ("/static", "/docs", "/openapi", "/docs-assets", "/redoc")


class IndexOut(BaseModel):
    message: str
    redis_available: bool
    dashboard: str = Field(description="The dashboard's page, for a browser.")
    endpoints: dict[str, str] = Field(description='"METHOD /path" → what it does.')


class HealthOut(BaseModel):
    status: str = Field(
        description='"healthy" when the service can serve; "degraded" (still 200) when the configured Redis is down '
        '(reads work, refreshes answer 503); "unhealthy" (503) when the database is unreachable.'
    )
    database: str
    queue: dict[str, Any]
    github: dict[str, Any]
    version: str


def endpoint_listing() -> dict[str, str]:
    """Describe every route of the app from its view's docstring."""
    listing: dict[str, str] = {}
    for rule in sorted(current_app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.rule.startswith(HIDDEN_PREFIXES) or rule.endpoint == "static":
            continue
        view = current_app.view_functions[rule.endpoint]
        summary = (view.__doc__ or "").strip().splitlines()[0] if view.__doc__ else rule.endpoint
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            listing[f"{method} {rule.rule}"] = summary
    return listing


@bp.get("/")
@bp.output(IndexOut)
def index() -> dict[str, Any]:
    """Describe the API and list its endpoints."""
    rt = runtime()
    return {"message": "Project Tracker Backend API", "redis_available": rt.redis is not None,
            "dashboard": "/dashboard", "endpoints": endpoint_listing()}  # fmt: skip


def database_state() -> str:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.error("health check: database unreachable (%s)", type(exc).__name__)
        db.session.rollback()
        return "unreachable"
    return "ok"


@bp.get("/metrics")
@bp.doc(
    summary="Prometheus metrics",
    responses={200: {"description": "Prometheus text exposition format",
                     "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}},
)  # fmt: skip
def prometheus_metrics() -> Response:
    """Export projects, refresh jobs, stored rows and the GitHub budget for Prometheus."""
    return Response(prometheus.render(), content_type=CONTENT_TYPE_LATEST)


@bp.get("/api/health")
@bp.output(HealthOut)
@bp.doc(responses={503: "The database is unreachable"})
def health() -> tuple[dict[str, Any], int]:
    """Report whether the service can serve, with queue and GitHub rate-limit state."""
    rt = runtime()
    database = database_state()
    queue_up = redis_up(rt) is not False
    status = "unhealthy" if database != "ok" else "healthy" if queue_up else "degraded"
    body = {
        "status": status,
        "database": database,
        "queue": rt.tasks.describe(),
        "github": {
            "api_url": rt.settings.github_api_url,
            "token_configured": bool(rt.settings.github_token),
            # The rate-limit state is shared through Redis: unknown while it is down.
            "rate_limit": rate_governor(rt).snapshot() if queue_up else {"error": "Redis unreachable"},
        },
        "version": current_app.config.get("VERSION", ""),
    }
    return body, 200 if database == "ok" else 503
