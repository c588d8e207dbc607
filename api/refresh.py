"""Serve the refresh endpoints: start a refresh, read a job's status, list recent jobs."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from pydantic import BaseModel, ConfigDict, Field

from analysis import metrics
from api.auth import LIMITED, SECURITY_SCHEME, check_admin, refresh_limit
from infra.admin import request_is_admin
from infra.errors import APIError
from infra.extensions import db, limiter
from infra.runtime import current_settings, redis_up, runtime
from models import ITEM_FAILED, ITEM_SKIPPED, RefreshJob
from refresh import lifecycle
from reports.projects import Concealed

bp = APIBlueprint("refresh", __name__, tag="Refresh")

REFRESH_ERRORS = {
    401: "force=1 without the admin token",
    **LIMITED,
    503: "Job queue (Redis) unavailable; see Retry-After",
}
MESSAGES = {
    "started": "Refresh job started",
    "running": "A refresh job is already in progress",
    "recent": "A refresh job completed moments ago",
}


class RefreshQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    force: bool = Field(False, description="Start a new job even within REFRESH_COOLDOWN (needs the admin token).")


class RefreshStarted(BaseModel):
    message: str
    job_id: str
    status: str
    check_status_url: str
    outcome: str = Field(description='"started", "running" (the job in progress) or "recent" (cooldown).')


class ItemError(BaseModel):
    repository: str
    error: str
    status: str


class JobOut(BaseModel):
    id: str
    status: str = Field(description="queued | running | completed | failed")
    started_at: str | None
    completed_at: str | None
    error_message: str | None
    repositories_processed: int
    total_repositories: int
    progress: float = Field(description="processed / total * 100, one decimal; 0 when total is 0.")
    repositories_failed: int
    trigger: str
    scope: str
    project_id: int | None
    errors: list[ItemError]


def job_json(job: RefreshJob, concealed: Concealed | None = None) -> dict[str, Any]:
    """Serialise a job in the contract's shape plus per-repository errors, without what the reader may not see."""
    hidden = concealed or Concealed.of_reader()
    return {
        "id": job.id,
        "status": job.status,
        "started_at": metrics.iso(job.started_at),
        "completed_at": metrics.iso(job.completed_at),
        "error_message": hidden.redact(job.error_message),
        "repositories_processed": job.repositories_processed or 0,
        "total_repositories": job.total_repositories or 0,
        "progress": job.progress,
        "repositories_failed": job.repositories_failed or 0,
        "trigger": job.trigger,
        "scope": job.scope,
        "project_id": job.project_id,
        "errors": [
            {"repository": i.repository, "error": i.error or "", "status": i.status}
            for i in sorted(job.items, key=lambda i: i.repository)
            if i.status in (ITEM_FAILED, ITEM_SKIPPED) and i.error and hidden.shows(i.project_id, i.repository)
        ],
    }


def started_json(job: RefreshJob, outcome: str) -> dict[str, Any]:
    return {
        "message": "A refresh job failed moments ago"
        if (outcome, job.status) == ("recent", "failed")
        else MESSAGES[outcome],
        "job_id": job.id,
        "status": job.status,
        "check_status_url": f"/api/refresh/status/{job.id}",
        "outcome": outcome,
    }


@bp.post("/api/refresh")
@limiter.limit(refresh_limit, exempt_when=request_is_admin)
@bp.input(RefreshQuery, location="query", arg_name="query")
@bp.output(RefreshStarted, status_code=202)
# Anyone may start a (rate-limited, coalesced) refresh; the admin token is optional and lifts the limit.
@bp.doc(security=[{}, {SECURITY_SCHEME: []}], responses=REFRESH_ERRORS)
def start_refresh(query: RefreshQuery) -> dict[str, Any]:
    """Start a refresh of every project in the background (coalesced with a running or recent one)."""
    if query.force:
        check_admin()
    if redis_up(runtime()) is False:
        raise APIError(503, "Job queue unavailable (Redis): try again later", headers={"Retry-After": "30"})
    cooldown = 0 if query.force else current_settings().refresh_cooldown_seconds
    job, outcome = lifecycle.start_refresh(trigger="forced" if query.force else "api", cooldown=cooldown)
    return started_json(job, outcome)


@bp.get("/api/refresh/status/<job_id>")
@bp.output(JobOut)
@bp.doc(responses={404: "Job not found"})
def job_status(job_id: str) -> dict[str, Any]:
    """Return one refresh job's status and progress."""
    job = db.session.get(RefreshJob, job_id)
    concealed = Concealed.of_reader()
    if job is None or not concealed.shows_job(job.project_id):
        raise APIError(404, "Job not found")
    return job_json(job, concealed)


@bp.get("/api/refresh/jobs")
@bp.output(list[JobOut])
def list_jobs() -> list[dict[str, Any]]:
    """List the 10 most recent refresh jobs, newest first."""
    concealed = Concealed.of_reader()
    return [job_json(j, concealed) for j in lifecycle.recent_jobs(10) if concealed.shows_job(j.project_id)]
