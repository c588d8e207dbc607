"""Read the series the project chart pages plot: LOC by language, commits per week, stars over time."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from infra.extensions import db
from models import Commit, Project
from reports import history
from reports.commit_stats import bucket_expression


def loc_by_language(projects: list[Project]) -> list[tuple[str, dict[str, int]]]:
    """Return (project, {language: loc}) for the projects that have line counts, largest first."""
    counted = [(p.name, {k: int(v) for k, v in (p.loc_by_language or {}).items() if v}) for p in projects]
    return sorted((item for item in counted if item[1]), key=lambda item: (-sum(item[1].values()), item[0]))


def commits_per_week(project_id: int) -> list[tuple[date, int]]:
    """Return (week's Monday, number of commits) for every week with commits, oldest first."""
    week = bucket_expression("week")
    query = (
        select(week.label("week"), func.count()).where(Commit.project_id == project_id).group_by(week).order_by(week)
    )
    return [(day, count) for day, count in db.session.execute(query)]


def stars_history(project: Project) -> list[tuple[str, int]]:
    """Return (ISO time, stars) from the recorded history; empty when no change was ever recorded."""
    points = history.series(project, "stars")["points"]
    if len(points) < 2:  # only "the count when first tracked": no history yet
        return []
    return [(point["at"], point["value"]) for point in points]
