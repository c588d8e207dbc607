"""Run the lifecycle of refresh jobs: start (deduplicated), fan out, count progress, finish, reap.

A job of scope "all" becomes one queue job that plans it (`jobs.plan_refresh`) and then one queue
job per repository (`jobs.refresh_repository`, job id `repo-<project id>`). Each repository job
marks every open item of its project done, in whichever refresh asked for it, and the job whose
last item that was is completed by that same conditional UPDATE: exactly one finisher.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from infra.extensions import db
from infra.redaction import redact
from infra.runtime import runtime
from models import (
    ACTIVE_JOB_STATUSES,
    ITEM_DONE,
    ITEM_FAILED,
    ITEM_PENDING,
    ITEM_RUNNING,
    ITEM_SKIPPED,
    JOB_COMPLETED,
    JOB_FAILED,
    JOB_QUEUED,
    JOB_RUNNING,
    Project,
    RefreshJob,
    RefreshJobItem,
    utcnow,
)

log = logging.getLogger(__name__)
MAX_RESUMES = 3


def plan_job_id(job_id: str) -> str:
    return f"plan-{job_id}"


def repo_job_id(project_id: int) -> str:
    return f"repo-{project_id}"


def active_job(key: str) -> RefreshJob | None:
    return db.session.scalar(select(RefreshJob).where(RefreshJob.active_key == key))


def _recent_completed(key_scope: str, project_id: int | None, seconds: int) -> RefreshJob | None:
    since = utcnow() - timedelta(seconds=seconds)
    # Failed jobs count too: a plan that keeps failing must not start a new job on every call.
    query = select(RefreshJob).where(
        RefreshJob.status.in_((JOB_COMPLETED, JOB_FAILED)),
        RefreshJob.scope == key_scope,
        RefreshJob.completed_at >= since,
    )
    if project_id is not None:
        query = query.where(RefreshJob.project_id == project_id)
    return db.session.scalar(query.order_by(RefreshJob.completed_at.desc()).limit(1))


def start_refresh(*, trigger: str, project: Project | None = None, cooldown: int = 0) -> tuple[RefreshJob, str]:
    """Start a refresh, or return the one already running (or, within `cooldown` s, just completed or failed).

    Returns the job and what happened: "started", "running" or "recent".
    """
    reap_stale_jobs()
    key = "all" if project is None else f"repo:{project.id}"
    existing = active_job(key)
    if existing is not None:
        return existing, "running"
    if cooldown > 0:
        recent = _recent_completed("all" if project is None else "repo", project and project.id, cooldown)
        if recent is not None:
            return recent, "recent"
    job = RefreshJob(
        trigger=trigger,
        scope="all" if project is None else "repo",
        project_id=project.id if project else None,
        active_key=key,
        status=JOB_QUEUED,
        started_at=utcnow(),
        heartbeat_at=utcnow(),
    )
    db.session.add(job)
    try:
        db.session.commit()
    except IntegrityError:
        # Another request created the active job between our check and our insert.
        db.session.rollback()
        existing = active_job(key)
        if existing is None:
            raise
        return existing, "running"
    dispatch_plan(job)
    return job, "started"


def dispatch_plan(job: RefreshJob) -> None:
    """Queue the planning step of a job; fail the job clearly if the queue refuses it."""
    try:
        runtime().tasks.enqueue("jobs.plan_refresh", job.id, job_id=plan_job_id(job.id))
    except Exception as exc:
        log.exception("could not queue refresh job %s", job.id)
        fail_job(job.id, f"Could not queue the refresh job: {type(exc).__name__}")


def fail_job(job_id: str, message: str) -> None:
    """Mark a job failed, close its open items, and free its scope for a new refresh."""
    message = redact(message, runtime().settings.secrets())
    now = utcnow()
    db.session.execute(
        update(RefreshJobItem)
        .where(RefreshJobItem.job_id == job_id, RefreshJobItem.status.in_((ITEM_PENDING, ITEM_RUNNING)))
        .values(status=ITEM_FAILED, error=message, finished_at=now)
    )
    db.session.execute(
        update(RefreshJob)
        .where(RefreshJob.id == job_id, RefreshJob.status.in_(ACTIVE_JOB_STATUSES))
        .values(status=JOB_FAILED, error_message=message, completed_at=now, active_key=None, heartbeat_at=now)
    )
    db.session.commit()


def begin_job(job_id: str) -> RefreshJob | None:
    """Mark a queued job running; None when it is no longer active (already finished)."""
    job = db.session.get(RefreshJob, job_id)
    if job is None or job.status not in ACTIVE_JOB_STATUSES:
        return None
    job.status = JOB_RUNNING
    job.attempts = (job.attempts or 0) + 1
    job.heartbeat_at = utcnow()
    db.session.commit()
    return job


def add_items(job: RefreshJob, projects: list[Project]) -> list[int]:
    """Record which projects the job covers (idempotent) and return their ids."""
    have = set(db.session.scalars(select(RefreshJobItem.project_id).where(RefreshJobItem.job_id == job.id)))
    for project in projects:
        if project.id not in have:
            db.session.add(RefreshJobItem(job_id=job.id, project_id=project.id, repository=project.full_name))
    ids = sorted(have | {p.id for p in projects})
    job.total_repositories = len(ids)
    job.heartbeat_at = utcnow()
    db.session.commit()
    return ids


def fan_out(job: RefreshJob, project_ids: list[int]) -> None:
    """Queue one repository job per project (a repository already queued is not queued twice)."""
    if not project_ids:
        complete_if_done(job.id, allow_empty=True)
        return
    tasks = runtime().tasks
    for project_id in project_ids:
        tasks.enqueue("jobs.refresh_repository", project_id, job_id=repo_job_id(project_id))


def finish_unchanged(job: RefreshJob, project_ids: list[int]) -> None:
    """Count the pending items of repositories nothing was pushed to as done, queuing no job for them."""
    if not project_ids:
        return
    now = utcnow()
    query = select(RefreshJobItem).where(
        RefreshJobItem.job_id == job.id,
        RefreshJobItem.project_id.in_(project_ids),
        RefreshJobItem.status == ITEM_PENDING,
    )
    items = list(db.session.scalars(query))
    for item in items:
        item.status, item.finished_at = ITEM_DONE, now
    db.session.execute(
        update(RefreshJob)
        .where(RefreshJob.id == job.id)
        .values(repositories_processed=RefreshJob.repositories_processed + len(items), heartbeat_at=now)
    )
    db.session.commit()


def claim_items(project_id: int) -> list[str]:
    """Mark the open items of a project running; return the ids of their jobs."""
    now = utcnow()
    items = _open_items(project_id)
    for item in items:
        item.status = ITEM_RUNNING
        item.started_at = now
        item.attempts = (item.attempts or 0) + 1
    db.session.commit()
    return sorted({item.job_id for item in items})


def _open_items(project_id: int) -> list[RefreshJobItem]:
    query = (
        select(RefreshJobItem)
        .join(RefreshJob, RefreshJob.id == RefreshJobItem.job_id)
        .where(
            RefreshJobItem.project_id == project_id,
            RefreshJobItem.status.in_((ITEM_PENDING, ITEM_RUNNING)),
            RefreshJob.status.in_(ACTIVE_JOB_STATUSES),
        )
    )
    return list(db.session.scalars(query))


def finish_items(project_id: int, error: str | None, *, skipped: bool = False) -> None:
    """Close a project's open items in every active job and count them, atomically per job."""
    status = ITEM_SKIPPED if skipped else ITEM_FAILED if error else ITEM_DONE
    failed = 1 if status == ITEM_FAILED else 0
    now = utcnow()
    job_ids = []
    for item in _open_items(project_id):
        item.status, item.error, item.finished_at = status, error, now
        job_ids.append(item.job_id)
    for job_id in job_ids:
        db.session.execute(
            update(RefreshJob)
            .where(RefreshJob.id == job_id)
            .values(
                repositories_processed=RefreshJob.repositories_processed + 1,
                repositories_failed=RefreshJob.repositories_failed + failed,
                heartbeat_at=now,
            )
        )
    db.session.commit()
    for job_id in job_ids:
        complete_if_done(job_id)


def complete_if_done(job_id: str, *, allow_empty: bool = False) -> bool:
    """Complete the job if every item is counted; True for the one caller that completed it.

    The status and the failure summary are written in one transaction, so a reader never sees
    a completed job without its summary.
    """
    done = RefreshJob.repositories_processed >= RefreshJob.total_repositories
    condition = (
        or_(done, RefreshJob.total_repositories == 0) if allow_empty else and_(done, RefreshJob.total_repositories > 0)
    )
    result = db.session.execute(
        update(RefreshJob)
        .where(RefreshJob.id == job_id, RefreshJob.status == JOB_RUNNING, condition)
        .values(status=JOB_COMPLETED, completed_at=utcnow(), active_key=None)
    )
    completed = result.rowcount == 1
    if completed:
        summary = _failure_summary(job_id)
        if summary:
            db.session.execute(update(RefreshJob).where(RefreshJob.id == job_id).values(error_message=summary))
    db.session.commit()
    return completed


def _failure_summary(job_id: str) -> str | None:
    """Return "N of M repositories failed: a, b, …" for a job, or None when none failed."""
    failed = sorted(
        db.session.scalars(
            select(RefreshJobItem.repository).where(
                RefreshJobItem.job_id == job_id, RefreshJobItem.status == ITEM_FAILED
            )
        )
    )
    if not failed:
        return None
    total = db.session.scalar(select(RefreshJob.total_repositories).where(RefreshJob.id == job_id))
    return f"{len(failed)} of {total} repositories failed: {', '.join(failed[:10])}"


def _is_stale(job: RefreshJob, now: datetime, seconds: int) -> bool:
    last = job.heartbeat_at or job.started_at
    return last is not None and (now - last).total_seconds() > seconds


def reap_stale_jobs() -> None:
    """Resume or fail active jobs that made no progress and have nothing queued or running."""
    settings = runtime().settings
    now = utcnow()
    jobs = list(db.session.scalars(select(RefreshJob).where(RefreshJob.status.in_(ACTIVE_JOB_STATUSES))))
    for job in jobs:
        if _is_stale(job, now, settings.refresh_stale_seconds):
            _reap(job)


def _reap(job: RefreshJob) -> None:
    tasks = runtime().tasks
    if tasks.is_active(plan_job_id(job.id)):
        return
    open_items = [i for i in job.items if i.status in (ITEM_PENDING, ITEM_RUNNING)]
    if job.status == JOB_QUEUED or not job.items:
        if (job.attempts or 0) >= MAX_RESUMES:
            fail_job(job.id, "The refresh job was lost by its worker (no progress, nothing queued)")
            return
        log.warning("resuming stale refresh job %s", job.id)
        job.heartbeat_at = utcnow()
        db.session.commit()
        dispatch_plan(job)
        return
    lost = [i for i in open_items if i.project_id is None or not tasks.is_active(repo_job_id(i.project_id))]
    for item in lost:
        if item.project_id is None or (item.attempts or 0) >= MAX_RESUMES:
            _fail_item(item, "The repository job was lost by its worker")
        else:
            log.warning("re-queueing lost repository job for %s (refresh %s)", item.repository, job.id)
            tasks.enqueue("jobs.refresh_repository", item.project_id, job_id=repo_job_id(item.project_id))
    job.heartbeat_at = utcnow()
    db.session.commit()
    complete_if_done(job.id)


def _fail_item(item: RefreshJobItem, message: str) -> None:
    item.status, item.error, item.finished_at = ITEM_FAILED, message, utcnow()
    db.session.execute(
        update(RefreshJob)
        .where(RefreshJob.id == item.job_id)
        .values(
            repositories_processed=RefreshJob.repositories_processed + 1,
            repositories_failed=RefreshJob.repositories_failed + 1,
        )
    )
    db.session.commit()


def recent_jobs(limit: int = 10) -> list[RefreshJob]:
    query = select(RefreshJob).order_by(RefreshJob.created_at.desc(), RefreshJob.id).limit(limit)
    return list(db.session.scalars(query))
