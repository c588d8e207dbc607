"""Data versions of the read side: a cheap fingerprint that changes whenever a read's answer may.

`/api/projects`, `/api/project/…` and `/api/metrics` are functions of the `projects` table only, so
their bodies are rebuilt when its version changes and served from memory otherwise. The version is
read from the database on every request (one aggregate over ≤ a few hundred rows, no ORM objects),
so it is right whichever process wrote: another gunicorn worker, an RQ worker or the scheduler.

Why an aggregate and not a stored generation counter: every write to a project goes through the
ORM or a Core `UPDATE`, and both set `updated_at` (its `onupdate`), so nothing can forget to bump
it, and no migration or trigger is needed. The fingerprint is `count(*)`, `max(id)`,
`max(updated_at)` and the sum of every row's `updated_at` as a number: the sum moves when any row
is written, even when two transactions commit in the other order than they took their timestamps
(PostgreSQL workers writing different rows), which `max(updated_at)` alone would miss; `count`
and `max(id)` catch deletes and a delete plus an insert.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select

from infra.extensions import db
from models import Project

SQLITE_EPOCH_DAY = 2460676.5  # julianday('2025-01-01')


def _stamp_sum() -> ColumnElement[Any]:
    """Sum of `updated_at` as numbers: exact epoch seconds on PostgreSQL, days since 2025 on SQLite."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.sum(func.extract("epoch", Project.updated_at))
    # Offset from a recent day keeps the float sum fine-grained (a few microseconds per row).
    return func.sum(func.julianday(Project.updated_at) - SQLITE_EPOCH_DAY)


def projects_version() -> str:
    """Return a string that changes whenever any row of `projects` is inserted, updated or deleted."""
    count, top_id, latest, total = db.session.execute(
        select(func.count(Project.id), func.max(Project.id), func.max(Project.updated_at), _stamp_sum())
    ).one()
    stamp = latest.isoformat() if latest is not None else "-"
    return f"{count}:{top_id or 0}:{stamp}:{total or 0}"
