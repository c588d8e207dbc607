"""Data versions of the read side: a cheap fingerprint that changes whenever a read's answer may.

`/api/projects` and `/api/metrics` are functions of the `projects` table only, so their bodies are
rebuilt when its version changes and served from memory otherwise. The version is read from the
database (one aggregate over a few hundred rows, no ORM objects, no statement compilation), so it
is right whichever process wrote: another gunicorn worker, an RQ worker or the scheduler.

Why an aggregate and not a stored generation counter: every write to a project goes through the
ORM or a Core `UPDATE`, and both set `updated_at` (its `onupdate`), so nothing can forget to bump
it, and no migration or trigger is needed. The fingerprint is `count(*)`, `max(id)`,
`max(updated_at)` and the sum of every row's `updated_at` as a number: the sum moves when any row
is written, even when two transactions commit in the other order than they took their timestamps
(PostgreSQL workers writing different rows), which `max(updated_at)` alone would miss; `count`
and `max(id)` catch deletes and a delete plus an insert.
"""

from __future__ import annotations

from infra.extensions import db
from models import Project

_TABLE = Project.__table__.name
# Offset from a recent day (julianday('2025-01-01')) keeps SQLite's float sum fine-grained.
_STAMP_SUM = {
    "postgresql": "sum(extract(epoch from updated_at))",
    "sqlite": "sum(julianday(updated_at) - 2460676.5)",
}
_QUERIES = {
    dialect: f"SELECT count(*), max(id), max(updated_at), {stamp_sum} FROM {_TABLE}"  # noqa: S608 - constants only
    for dialect, stamp_sum in _STAMP_SUM.items()
}


def projects_version() -> str:
    """Return a string that changes whenever any row of `projects` is inserted, updated or deleted."""
    connection = db.session.connection()
    count, top_id, latest, total = connection.exec_driver_sql(_QUERIES[connection.dialect.name]).one()
    return f"{count}:{top_id or 0}:{latest or '-'}:{total or 0}"
