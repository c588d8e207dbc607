"""`flask tracker export`: projects or commits as JSON or CSV, to a file or stdout.

Projects are the tracked repositories in the `/api/repos` shape (hidden ones included); commits
are every stored commit with its repository's full name, oldest first per repository.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any, TextIO

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from analysis import metrics
from infra.extensions import db
from models import Commit, Project
from reports.projects import repository_json

COMMIT_FIELDS = (
    "repository", "sha", "author_name", "author_email", "authored_at", "committer_name", "committer_email",
    "committed_at", "additions", "deletions", "files_changed", "churn", "is_merge", "subject",
)  # fmt: skip


def project_rows() -> Iterator[dict[str, Any]]:
    for project in db.session.scalars(select(Project).order_by(Project.owner, Project.name, Project.id)):
        yield repository_json(project)


def commit_rows() -> Iterator[dict[str, Any]]:
    query = (
        select(Commit, Project.owner, Project.name)
        .join(Project, Project.id == Commit.project_id)
        .order_by(Project.owner, Project.name, Commit.committed_at, Commit.sha)
    )
    for commit, owner, name in db.session.execute(query).yield_per(1000):
        yield {
            "repository": f"{owner}/{name}",
            **{f: getattr(commit, f) for f in COMMIT_FIELDS[1:]},
            "authored_at": metrics.iso(commit.authored_at),
            "committed_at": metrics.iso(commit.committed_at),
        }


def _cell(value: Any) -> Any:
    """Flatten a value for CSV: lists and dicts as compact JSON, None as empty."""
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return value


def write_csv(rows: Iterator[dict[str, Any]], out: TextIO) -> int:
    writer: csv.DictWriter[str] | None = None
    count = 0
    for row in rows:
        if writer is None:
            writer = csv.DictWriter(out, fieldnames=list(row), lineterminator="\n")
            writer.writeheader()
        writer.writerow({k: _cell(v) for k, v in row.items()})
        count += 1
    return count


def write_json(rows: Iterator[dict[str, Any]], out: TextIO) -> int:
    """Write a JSON array, one element at a time (commits can be many)."""
    count = 0
    out.write("[")
    for row in rows:
        out.write(("," if count else "") + "\n  " + json.dumps(row, sort_keys=False, default=str))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


@click.command("export")
@with_appcontext
@click.argument("what", type=click.Choice(["projects", "commits"]))
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              help="File to write; - (the default) is stdout.")  # fmt: skip
def export_command(what: str, fmt: str, output: str) -> None:
    """Export WHAT (projects or commits) as JSON or CSV."""
    rows = project_rows() if what == "projects" else commit_rows()
    with click.open_file(output, "w", encoding="utf-8") as out:
        count = (write_json if fmt == "json" else write_csv)(rows, out)
    if output != "-":
        click.echo(f"exported {count} {what} to {output}", err=True)
