"""Start refresh jobs from the CLI and follow one with a live progress bar (click.progressbar).

The bar shows repositories done / total; its label names the repository being refreshed and the
failures so far. It reads the job's rows in the database, so it follows work done by any worker.
"""

from __future__ import annotations

import time

import click
from sqlalchemy import select

from infra.extensions import db
from infra.runtime import runtime
from models import ACTIVE_JOB_STATUSES, ITEM_FAILED, ITEM_RUNNING, JOB_COMPLETED, Project, RefreshJob, RefreshJobItem
from refresh import lifecycle


def start(projects: list[Project]) -> list[tuple[RefreshJob, str]]:
    """Start one refresh of everything (no projects) or one per project; return (job, outcome) pairs."""
    if not projects:
        return [lifecycle.start_refresh(trigger="cli")]
    return [lifecycle.start_refresh(trigger="cli", project=project) for project in projects]


def must_wait(wait: bool | None) -> bool:
    """Wait for started jobs when asked, and always when they run in this process (no REDIS_URL)."""
    if not runtime().tasks.in_process:
        return bool(wait)
    if wait is False:
        click.echo(
            "note: no job queue (REDIS_URL) is configured: jobs run in this process, so it waits for them", err=True
        )
    return True


def _snapshot(job_id: str) -> tuple[RefreshJob | None, str | None]:
    """Read the job afresh and the repository one of its items is refreshing now."""
    db.session.expire_all()
    job = db.session.get(RefreshJob, job_id)
    current = db.session.scalar(
        select(RefreshJobItem.repository)
        .where(RefreshJobItem.job_id == job_id, RefreshJobItem.status == ITEM_RUNNING)
        .order_by(RefreshJobItem.started_at.desc(), RefreshJobItem.id)
        .limit(1)
    )
    db.session.rollback()  # end the read: the workers update these rows
    return job, current


def _label(current: str | None, failed: int) -> str:
    return f"{current or 'waiting':<30.30} failed {failed}"


def follow(job_id: str, *, interval: float = 0.5) -> bool:
    """Show the job's progress until it ends; print its outcome; True when nothing failed."""
    job, current = _snapshot(job_id)
    if job is None:
        click.echo(f"job {job_id} is gone", err=True)
        return False
    total = max(job.total_repositories, 1)
    shown = 0
    with click.progressbar(length=total, label=_label(current, job.repositories_failed), show_pos=True,
                           show_percent=True, width=30) as bar:  # fmt: skip
        while True:
            done = job.repositories_processed
            if job.total_repositories and job.total_repositories != bar.length:
                bar.length = job.total_repositories
            bar.label = _label(current, job.repositories_failed)
            if done > shown:
                bar.update(done - shown)
                shown = done
            else:
                bar.render_progress()
            if job.status not in ACTIVE_JOB_STATUSES:
                break
            time.sleep(interval)
            refreshed, current = _snapshot(job_id)
            if refreshed is None:
                click.echo(f"\njob {job_id} is gone", err=True)
                return False
            job = refreshed
    summary = f"{job.status}: {job.repositories_processed}/{job.total_repositories} repositories"
    summary += f", {job.repositories_failed} failed"
    click.echo(summary + (f" — {job.error_message}" if job.error_message else ""))
    for item in _failures(job_id):
        click.echo(f"  {item.repository}: {item.error or item.status}", err=True)
    return job.status == JOB_COMPLETED and not job.repositories_failed


def _failures(job_id: str) -> list[RefreshJobItem]:
    query = select(RefreshJobItem).where(RefreshJobItem.job_id == job_id, RefreshJobItem.status == ITEM_FAILED)
    return list(db.session.scalars(query.order_by(RefreshJobItem.repository)))
