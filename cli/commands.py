"""Add the service's `flask` commands (`flask refresh`, `flask reap`, `flask tracker …`, `flask webhooks install`)."""

from __future__ import annotations

import time

import click
from flask import Flask
from flask.cli import with_appcontext

from cli import follow
from cli.tracker import tracker
from infra.extensions import db
from infra.runtime import current_settings
from models import ACTIVE_JOB_STATUSES, RefreshJob
from refresh import hook_install, lifecycle


def init_app(app: Flask) -> None:
    """Register the commands on the app's CLI."""
    app.cli.add_command(refresh_command)
    app.cli.add_command(reap_command)
    app.cli.add_command(webhooks_group)
    app.cli.add_command(tracker)


@click.command("refresh")
@with_appcontext
@click.option("--wait/--no-wait", default=None,
              help="Wait until the job has finished [default: only when it runs in-process].")  # fmt: skip
def refresh_command(wait: bool | None) -> None:
    """Start a refresh of every project (like POST /api/refresh?force=1)."""
    job, outcome = lifecycle.start_refresh(trigger="cli")
    click.echo(f"{outcome}: job {job.id}")
    wait = follow.must_wait(wait)
    while wait:
        db.session.expire_all()
        current = db.session.get(RefreshJob, job.id)
        if current is None or current.status not in ACTIVE_JOB_STATUSES:
            click.echo(f"{current.status if current else 'gone'}: {current.error_message if current else ''}")
            return
        time.sleep(1)


@click.command("reap")
@with_appcontext
def reap_command() -> None:
    """Resume or fail refresh jobs that stopped making progress."""
    lifecycle.reap_stale_jobs()
    click.echo("done")


@click.group("webhooks")
def webhooks_group() -> None:
    """Manage the GitHub webhook that keeps tracked repositories fresh."""


@webhooks_group.command("install")
@with_appcontext
@click.option("--url", required=True, help="Public URL of POST /api/webhooks/github on this service.")
def webhooks_install_command(url: str) -> None:
    """Create or update the webhook (URL, WEBHOOK_SECRET, JSON, events) on every tracked, non-paused repository."""
    secret = current_settings().webhook_secret
    if not secret:
        raise click.UsageError("WEBHOOK_SECRET is not set: the webhook route would not exist")
    if not url.startswith(("https://", "http://")):
        raise click.UsageError("--url must be an http(s) URL")
    failed = 0
    for result in hook_install.install(url, secret):
        failed += result.outcome == "failed"
        click.echo(f"{result.outcome}: {result.repository}" + (f" ({result.detail})" if result.detail else ""))
    if failed:
        raise click.ClickException(f"{failed} repositories failed")
