"""Add the service's `flask` commands (`flask refresh`, `flask reap`, `flask tracker …`)."""

from __future__ import annotations

import time

import click
from flask import Flask
from flask.cli import with_appcontext

from cli.tracker import tracker
from infra.extensions import db
from models import ACTIVE_JOB_STATUSES, RefreshJob
from refresh import lifecycle


def init_app(app: Flask) -> None:
    """Register the commands on the app's CLI."""
    app.cli.add_command(refresh_command)
    app.cli.add_command(reap_command)
    app.cli.add_command(tracker)


@click.command("refresh")
@with_appcontext
@click.option("--wait/--no-wait", default=False, help="Wait until the job has finished.")
def refresh_command(wait: bool) -> None:
    """Start a refresh of every project (like POST /api/refresh?force=1)."""
    job, outcome = lifecycle.start_refresh(trigger="cli")
    click.echo(f"{outcome}: job {job.id}")
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
