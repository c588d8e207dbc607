"""Read a tracked repository's change history (RepoUpdate rows) and its stars/forks over time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from analysis import metrics
from infra.extensions import db
from infra.pagination import Page, paginate
from models import Project, RepoUpdate

SERIES_METRICS = ("stars", "forks")


def update_json(row: RepoUpdate) -> dict[str, Any]:
    """Serialise one history row."""
    return {
        "id": row.id,
        "update_type": row.update_type,
        "old_value": row.old_value,
        "new_value": row.new_value,
        "description": row.description,
        "created_at": metrics.iso(row.created_at),
    }


def history_page(project: Project, types: Sequence[str], page: int, per_page: int) -> Page:
    """Return one page of a repository's changes, newest first, optionally of some types only."""
    query = select(RepoUpdate).where(RepoUpdate.project_id == project.id)
    if types:
        query = query.where(RepoUpdate.update_type.in_(sorted(set(types))))
    found = paginate(query, [RepoUpdate.created_at.desc(), RepoUpdate.id.desc()], page, per_page)
    return Page([update_json(r) for r in found.items], page, per_page, found.total)


def _as_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def series(project: Project, metric: str) -> dict[str, Any]:
    """Return a counter over time: its value when first tracked, then each recorded change."""
    if metric not in SERIES_METRICS:
        raise ValueError(f"no time series for {metric!r}")
    rows = list(
        db.session.scalars(
            select(RepoUpdate)
            .where(RepoUpdate.project_id == project.id, RepoUpdate.update_type == metric)
            .order_by(RepoUpdate.created_at, RepoUpdate.id)
        )
    )
    changes = [(row.created_at, _as_int(row.old_value), _as_int(row.new_value)) for row in rows]
    changes = [(at, old, new) for at, old, new in changes if new is not None]
    current = int(getattr(project, metric) or 0)
    first = changes[0][1] if changes and changes[0][1] is not None else current
    points = [{"at": metrics.iso(project.created_at), "value": first}]
    points += [{"at": metrics.iso(at), "value": new} for at, _old, new in changes]
    return {"repository": project.full_name, "repository_id": project.id, "metric": metric, "points": points}
