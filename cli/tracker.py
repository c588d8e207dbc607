"""The `flask tracker …` command group: add, list, remove, refresh, status, export, admin-token.

Each command works on the configured database and queue (the same settings as the web process).
Exit codes: 0 success, 1 the operation failed (a repository could not be added, a refresh failed),
2 bad usage (click's own).
"""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from cli import export, follow
from cli.table import render
from gh.names import RefError, RepoRef
from infra.errors import APIError
from infra.extensions import db
from infra.runtime import runtime
from models import Project, RefreshJob, full_name_key
from refresh import tracking

tracker = AppGroup("tracker", help="Track repositories, refresh them and export what is stored.")
ADMIN_TOKEN_FILE = "admin_token"  # noqa: S105 - a file name, not a secret


def parse_ref(text: str) -> RepoRef:
    """Read `owner/name` or a repository URL; raise click.BadParameter with the reason."""
    text = text.strip()
    try:
        if "://" in text or text.startswith("git@"):
            return tracking.reference(None, None, text)
        owner, sep, name = text.partition("/")
        if not sep:
            raise click.BadParameter(f"{text!r}: give owner/name or a URL")
        return tracking.reference(owner, name, None)
    except APIError as exc:
        raise click.BadParameter(f"{text!r}: {_api_message(exc)}") from None
    except RefError as exc:
        raise click.BadParameter(f"{text!r}: {exc}") from None


def _api_message(exc: APIError) -> str:
    details = exc.detail if isinstance(exc.detail, list) else []
    if details:
        return "; ".join(f"{d.get('field')}: {d.get('message')}" for d in details if isinstance(d, dict))
    return str(exc.message)


def find(text: str) -> Project:
    """Find a tracked repository by id or owner/name; raise click.ClickException when unknown."""
    text = text.strip()
    project = None
    if text.isdigit():
        project = db.session.get(Project, int(text))
    elif "/" in text:
        owner, _, name = text.partition("/")
        project = db.session.scalar(select(Project).where(Project.full_name_key == full_name_key(owner, name)))
    if project is None:
        raise click.ClickException(f"{text!r} is not tracked")
    return project


def _is_other_host(text: str) -> bool:
    """A URL or path that is not the configured GitHub's: tracked from git alone."""
    text = text.strip()
    is_location = "://" in text or text.startswith("/") or ("@" in text and ":" in text)
    return is_location and not tracking.is_github_url(text)


def _from_file(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


@tracker.command("add")
@click.argument("repos", nargs=-1)
@click.option("--from-file", "from_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read one owner/name or URL per line (blank lines and # comments are skipped).")  # fmt: skip
@click.option("--wait/--no-wait", default=None,
              help="Follow the refresh jobs [default: wait when jobs run in this process (no REDIS_URL)].")  # fmt: skip
def add_command(repos: tuple[str, ...], from_file: Path | None, wait: bool | None) -> None:
    """Track REPOS and start their refresh.

    A repository is owner/name or a URL of the configured GitHub, or the git URL of any other
    host (GitLab, Gitea, Bitbucket, self-hosted; a local path when ALLOW_LOCAL_REPOSITORIES=true),
    which is tracked from git alone. Exits 1 when a repository could not be added (or, when
    waiting, refreshed).
    """
    wanted = [*repos, *(_from_file(from_file) if from_file else [])]
    if not wanted:
        raise click.UsageError("Give at least one repository, or --from-file")
    wait = follow.must_wait(wait)
    jobs: list[str] = []
    failed = 0
    for text in wanted:
        try:
            if _is_other_host(text):
                project, job = tracking.add_git_repository(text)
            else:
                project, job = tracking.add_repository(parse_ref(text))
        except click.BadParameter as exc:
            failed += 1
            click.echo(f"error: {exc.message}", err=True)
            continue
        except APIError as exc:
            db.session.rollback()
            failed += 1
            click.echo(f"error: {text}: {_api_message(exc)}", err=True)
            continue
        click.echo(f"added {project.full_name} (id {project.id}); refresh job {job.id}")
        jobs.append(job.id)
    ok = all([follow.follow(job_id) for job_id in jobs]) if wait else True
    if failed or not ok:
        raise click.exceptions.Exit(1)


@tracker.command("list")
def list_command() -> None:
    """Show the tracked repositories as a table."""
    projects = db.session.scalars(select(Project).order_by(Project.owner, Project.name, Project.id))
    rows = [
        [
            str(p.id),
            p.full_name,
            p.source,
            p.primary_language or "",
            str(p.loc or 0),
            str(p.commit_count or 0),
            str(p.stars or 0),
            p.last_refreshed_at.strftime("%Y-%m-%d %H:%M") if p.last_refreshed_at else "never",
        ]
        for p in projects
    ]
    headers = ["id", "repository", "source", "language", "loc", "commits", "stars", "refreshed"]
    click.echo(render(headers, rows))


@tracker.command("remove")
@click.argument("repos", nargs=-1, required=True)
def remove_command(repos: tuple[str, ...]) -> None:
    """Stop tracking REPOS (id or owner/name) and forget what is stored about them."""
    failed = 0
    for text in repos:
        try:
            project = find(text)
        except click.ClickException as exc:
            failed += 1
            click.echo(f"error: {exc.message}", err=True)
            continue
        name = project.full_name
        tracking.delete_repository(project.id)
        click.echo(f"removed {name}")
    if failed:
        raise click.exceptions.Exit(1)


@tracker.command("refresh")
@click.argument("repos", nargs=-1)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the job with a progress bar.")
@click.option("--interval", type=click.FloatRange(min=0.05), default=0.5, show_default=True,
              help="Seconds between two looks at the job.")  # fmt: skip
def refresh_command(repos: tuple[str, ...], wait: bool, interval: float) -> None:
    """Refresh every project, or only REPOS (id or owner/name), and follow the progress.

    Exits 1 when a job failed or a repository could not be refreshed.
    """
    projects = [find(text) for text in repos]
    jobs = follow.start(projects)
    for job, outcome in jobs:
        click.echo(f"{outcome}: job {job.id}")
    if not follow.must_wait(wait):
        return
    ok = True
    for job, _outcome in jobs:
        ok = follow.follow(job.id, interval=interval) and ok
    if not ok:
        raise click.exceptions.Exit(1)


@tracker.command("status")
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True, help="How many jobs.")
def status_command(limit: int) -> None:
    """Show the last refresh jobs, newest first."""
    jobs = db.session.scalars(select(RefreshJob).order_by(RefreshJob.created_at.desc(), RefreshJob.id).limit(limit))
    rows = [
        [
            j.id,
            j.status,
            j.trigger,
            j.scope,
            f"{j.repositories_processed}/{j.total_repositories}",
            str(j.repositories_failed),
            j.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            (j.error_message or "")[:60],
        ]
        for j in jobs
    ]
    headers = ["job", "status", "trigger", "scope", "done", "failed", "created", "error"]
    click.echo(render(headers, rows))


@tracker.command("admin-token")
def admin_token_command() -> None:
    """Tell where the admin token lives (never prints the token itself)."""
    settings = runtime().settings
    path = Path(settings.instance_path) / ADMIN_TOKEN_FILE
    if settings.admin_token:
        click.echo("ADMIN_TOKEN is set in the environment; write endpoints need it.")
    click.echo(f"admin token file: {path} ({'exists' if path.is_file() else 'absent'})")


tracker.add_command(export.export_command)
