"""Background job functions (run by RQ workers or the embedded thread): take ids, reload state.

Each function builds or reuses an app context, is safe to run twice, and never lets one
repository's failure stop the others.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from flask import Flask, current_app, has_app_context
from rq import get_current_job
from rq.timeouts import JobTimeoutException
from sqlalchemy.exc import InterfaceError, OperationalError

from analysis.counters import LocError
from analysis.gitcmd import GitError
from events import poller, store
from gh.gitlab import GitLabError
from gh.rules import GitHubError
from infra import telemetry
from infra.extensions import db
from infra.redaction import redact
from infra.runtime import runtime
from models import KIND_GIT, Project, RefreshJob, utcnow
from refresh import lifecycle, unchanged
from refresh.discovery import discover, refreshable_projects
from refresh.project import RepositoryError, refresh_project

log = logging.getLogger(__name__)
EXPECTED_ERRORS = (GitHubError, GitLabError, GitError, LocError, RepositoryError)
DATABASE_ERRORS = (OperationalError, InterfaceError)  # the connection was lost or refused
DATABASE_LOST = (
    "The database connection was lost during this refresh: nothing of it was stored, the next refresh tries again"
)
_process_app: tuple[int, Flask] | None = None


def set_process_app(app: Flask) -> None:
    """Register the app a worker process built, for the jobs it runs."""
    global _process_app
    _process_app = (os.getpid(), app)


@contextmanager
def job_context() -> Iterator[Flask]:
    """Yield an app context: the caller's (thread queue, tests) or the one `worker.py` registered."""
    global _process_app
    if has_app_context():
        yield current_app._get_current_object()  # type: ignore[attr-defined]
        return
    if _process_app is None:
        raise RuntimeError("jobs run on `python worker.py` (which registers its app) or inside an app context")
    pid, app = _process_app
    with app.app_context():
        if pid != os.getpid():
            # A forked work-horse must not reuse the parent's database connections.
            db.engine.dispose(close=False)
            _process_app = (os.getpid(), app)
        queued = get_current_job()
        name, ident = (queued.func_name, queued.id) if queued else ("direct", "")
        try:
            with telemetry.job_span(name, ident, queued.meta.get("otel") if queued else None):
                yield app
        finally:
            db.session.remove()


def plan_refresh(job_id: str) -> None:
    """Discover repositories (scope "all"), record the job's items and queue one job per repository."""
    with job_context():
        job = lifecycle.begin_job(job_id)
        if job is None:
            return
        try:
            projects = _plan(job)
        except EXPECTED_ERRORS as exc:
            db.session.rollback()
            lifecycle.fail_job(job_id, f"Refresh failed: {exc}")
            return
        ids = lifecycle.add_items(job, projects)
        skip = _unchanged_ids(job, projects)
        lifecycle.finish_unchanged(job, sorted(skip))
        lifecycle.fan_out(job, [i for i in ids if i not in skip])


def _unchanged_ids(job: RefreshJob, projects: list[Project]) -> set[int]:
    """Return the projects of a full refresh that nothing was pushed to since their last analysis."""
    if job.scope != "all" or job.trigger == "forced":
        return set()
    settings = runtime().settings
    now = utcnow()
    skip = set()
    for project in projects:
        if unchanged.is_unchanged(project, settings):
            project.last_refreshed_at = now
            skip.add(project.id)
    db.session.commit()
    return skip


def _plan(job: RefreshJob) -> list[Project]:
    if job.scope == "repo":
        project = db.session.get(Project, job.project_id) if job.project_id else None
        if project is None:
            raise RepositoryError("The repository is no longer tracked")
        return [project]
    if runtime().settings.github_token:
        discover()
        return refreshable_projects()
    # Without a token only repositories of other git hosts can be refreshed (no GitHub API needed).
    others = [p for p in refreshable_projects() if p.kind == KIND_GIT]
    if not others:
        raise RepositoryError("GITHUB_ACCESS_TOKEN is not set: cannot discover repositories")
    return others


def refresh_repository(project_id: int) -> None:
    """Refresh one project and count it done (or failed) in every refresh waiting for it."""
    with job_context(), telemetry.repository(project_id):
        claimed_at = utcnow()
        job_ids = lifecycle.claim_items(project_id)
        project = db.session.get(Project, project_id)
        if project is None:
            lifecycle.finish_items(project_id, "The repository is no longer tracked", skipped=True)
            return
        fresh_since = _discovery_time(job_ids)
        error, skipped = None, False
        try:
            outcome = refresh_project(project, fresh_since)
            skipped, error = outcome.status == "skipped", outcome.note
        except EXPECTED_ERRORS as exc:
            error = _record_failure(project_id, str(exc))
        except DATABASE_ERRORS as exc:
            # One transaction per repository (refresh_project): the rollback leaves the stored figures whole.
            log.warning("refresh of project %s lost the database (%s)", project_id, type(exc).__name__)
            error = _record_failure(project_id, DATABASE_LOST)
        except JobTimeoutException:
            limit = runtime().settings.job_timeout_seconds
            error = _record_failure(project_id, f"The refresh took longer than JOB_TIMEOUT_SECONDS ({limit} s)")
        except Exception as exc:  # a shutdown (BaseException) is not caught: RQ retries the job
            log.exception("refresh of project %s crashed", project_id)
            error = _record_failure(project_id, f"Internal error while refreshing ({type(exc).__name__})")
        lifecycle.finish_items(project_id, error, skipped=skipped)
        _follow_pushes(project_id, claimed_at)


def _follow_pushes(project_id: int, claimed_at: datetime) -> None:
    """Refresh again when a webhook announced a push after this refresh began (it joined this job)."""
    db.session.expire_all()
    project = db.session.get(Project, project_id)
    requested = project.refresh_requested_at if project is not None else None
    if project is not None and requested is not None and requested >= claimed_at:
        job, outcome = lifecycle.start_refresh(trigger="webhook", project=project)
        log.info("%s: pushed during its refresh, refresh again (%s, job %s)", project.full_name, outcome, job.id)


def _discovery_time(job_ids: list[str]) -> datetime | None:
    """Return when a full refresh waiting for this project discovered it (its metadata is fresh)."""
    starts = [j.started_at for j in (db.session.get(RefreshJob, i) for i in job_ids) if j and j.scope == "all"]
    return min(starts) if starts else None


def _record_failure(project_id: int, message: str) -> str:
    db.session.rollback()
    safe = redact(message, runtime().settings.secrets())
    project = db.session.get(Project, project_id)
    if project is not None:
        project.last_error, project.last_error_at = safe, utcnow()
        db.session.commit()
    log.warning("refresh of %s failed: %s", project.full_name if project else project_id, safe)
    return safe


def reap_stale_jobs() -> None:
    """Resume or fail refresh jobs whose workers were lost."""
    with job_context():
        lifecycle.reap_stale_jobs()


# -- GitHub events (issue 4) -------------------------------------------------------------------


def poll_events(source_key: str) -> None:
    """Poll one events source if it is due (failures are recorded on its EventSource row)."""
    with job_context():
        poller.poll_source(source_key)


def prune_events() -> None:
    """Delete events older than EVENTS_RETENTION_DAYS."""
    with job_context():
        removed = store.prune_events(runtime().settings.events_retention_days)
        if removed:
            log.info("pruned %d events past the retention period", removed)
