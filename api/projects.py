"""Serve seed 004's project endpoints: the list, one project, and the overall rollup."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from pydantic import BaseModel, Field
from sqlalchemy import func, nulls_last

import metrics
from errors import APIError
from extensions import db
from models import Project

bp = APIBlueprint("projects", __name__, tag="Projects (seed 004)")


class ProjectOut(BaseModel):
    """A project as the portfolio site reads it (seed-004 fields first, then additions)."""

    name: str = Field(description="Repository name.")
    time_spent: str = Field(description='Minutes between first and last commit, e.g. "123m".')
    loc: int
    commits: int
    active_days: int
    code_churn: int
    last_finished: str = Field(description='Last commit, "%m/%d/%Y, %I:%M:%S %p" UTC, or "Never".')
    primary_language: str
    repository_size_kb: str = Field(description='GitHub size in KB with one decimal, e.g. "12.3".')
    id: int
    full_name: str
    owner: str
    display_name: str | None
    description: str | None
    html_url: str | None
    homepage: str | None
    topics: list[str]
    tags: list[str]
    featured: bool
    archived: bool
    stars: int
    forks: int
    watchers: int
    open_issues: int
    loc_by_language: dict[str, int]
    first_commit_date: str | None
    last_commit_date: str | None
    pushed_at: str | None
    last_refreshed_at: str | None


class LeaderLoc(BaseModel):
    name: str
    loc: int


class LeaderTime(BaseModel):
    name: str
    time_spent_minutes: float
    time_spent_hours: float


class LeaderCommits(BaseModel):
    name: str
    commits: int


class CommonLanguage(BaseModel):
    language: str
    project_count: int
    percentage: float


class LanguageShare(BaseModel):
    project_count: int
    total_loc: int
    percentage_of_projects: float


class Averages(BaseModel):
    loc_per_project: float
    commits_per_project: float
    time_per_project_hours: float
    active_days_per_project: float


class MetricsOut(BaseModel):
    """The overall rollup; always this shape, zeros and nulls when there are no projects."""

    total_projects: int
    total_time_spent_hours: float
    total_time_spent_minutes: float
    total_loc: int
    total_commits: int
    total_active_days: int
    total_code_churn: int
    average_project_size_kb: float
    project_with_most_loc: LeaderLoc | None
    project_with_most_time: LeaderTime | None
    project_with_most_commits: LeaderCommits | None
    most_common_language: CommonLanguage | None
    languages_breakdown: dict[str, LanguageShare]
    averages: Averages


def project_json(project: Project) -> dict[str, Any]:
    """Serialise a project in seed 004's shape plus the added fields."""
    return {
        "name": project.name,
        **metrics.seed004_fields(project),
        "id": project.id,
        "full_name": project.full_name,
        "owner": project.owner,
        "display_name": project.display_name,
        "description": project.description_override or project.description,
        "html_url": project.html_url,
        "homepage": project.homepage,
        "topics": project.topics or [],
        "tags": project.tags or [],
        "featured": bool(project.featured),
        "archived": bool(project.archived),
        "stars": project.stars or 0,
        "forks": project.forks or 0,
        "watchers": project.watchers or 0,
        "open_issues": project.open_issues or 0,
        "loc_by_language": project.loc_by_language or {},
        "first_commit_date": metrics.iso(project.first_commit_date),
        "last_commit_date": metrics.iso(project.last_commit_date),
        "pushed_at": metrics.iso(project.pushed_at),
        "last_refreshed_at": metrics.iso(project.last_refreshed_at),
    }


def visible_projects() -> list[Project]:
    """Return the projects the portfolio shows: not hidden, featured first, latest work first."""
    query = (
        db.select(Project)
        .where(Project.hidden.is_(False))
        .order_by(Project.featured.desc(), nulls_last(Project.last_commit_date.desc()), Project.name, Project.owner)
    )
    return list(db.session.scalars(query))


def find_project(name: str) -> Project:
    """Find a visible project by repository name, or by `owner/name` when names collide."""
    if "/" in name:
        owner, _, repo = name.partition("/")
        condition = Project.full_name_key == f"{owner}/{repo}".lower()
    else:
        condition = func.lower(Project.name) == name.lower()
    matches = list(db.session.scalars(db.select(Project).where(condition, Project.hidden.is_(False))))
    if not matches:
        raise APIError(404, "Project not found")
    if len(matches) > 1:
        names = sorted(p.full_name for p in matches)
        raise APIError(
            409,
            "Several projects have this name: ask for owner/name",
            code="ambiguous_name",
            details=[{"field": "name", "message": n} for n in names],
        )
    return matches[0]


@bp.get("/api/projects")
@bp.output(list[ProjectOut])
def list_projects() -> list[dict[str, Any]]:
    """List every visible project with its metrics."""
    return [project_json(p) for p in visible_projects()]


@bp.get("/api/project/<path:name>")
@bp.output(ProjectOut)
@bp.doc(responses={404: "Project not found", 409: "Name shared by several owners"})
def get_project(name: str) -> dict[str, Any]:
    """Return one project by name (or owner/name)."""
    return project_json(find_project(name))


@bp.get("/api/metrics")
@bp.output(MetricsOut)
def overall_metrics() -> dict[str, Any]:
    """Return totals, leaders, languages and averages across visible projects."""
    figures = [
        metrics.ProjectFigures(
            name=p.name,
            loc=p.loc or 0,
            commits=p.commit_count or 0,
            active_days=p.active_days or 0,
            code_churn=p.code_churn or 0,
            time_spent_min=p.time_spent_min or 0.0,
            size_kb=p.size_kb or 0.0,
            language=metrics.language_or_unknown(p.primary_language),
        )
        for p in visible_projects()
    ]
    return metrics.rollup(figures)
