"""Serve the portfolio's project endpoints: the list, one project, and the overall rollup."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response
from pydantic import BaseModel, Field, TypeAdapter

from api.http_cache import cached_json
from reports import projects, versions

bp = APIBlueprint("projects", __name__, tag="Projects")


class ProjectOut(BaseModel):
    """A project as the portfolio site reads it (contract fields first, then additions)."""

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
    authored_loc: int = Field(
        description="Code lines linguist counts as written (no vendored, generated or docs paths)."
    )
    authored_loc_by_language: dict[str, int]
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
    total_authored_loc: int
    authored_loc_by_language: dict[str, int]


PROJECT_LIST = TypeAdapter(list[ProjectOut])
METRICS = TypeAdapter(MetricsOut)


def _project_list_body() -> bytes:
    # Validated and encoded once per data version (pydantic-core), not per request.
    return PROJECT_LIST.dump_json(
        PROJECT_LIST.validate_python([projects.project_json(p) for p in projects.visible_projects()])
    )


def _metrics_body() -> bytes:
    return METRICS.dump_json(METRICS.validate_python(projects.rollup(projects.visible_projects())))


@bp.get("/api/projects")
@bp.output(list[ProjectOut])
def list_projects() -> Response:
    """List every visible project with its metrics."""
    return cached_json("projects", versions.projects_version, _project_list_body)


@bp.get("/api/project/<path:name>")
@bp.output(ProjectOut)
@bp.doc(responses={404: "Project not found", 409: "Name shared by several owners"})
def get_project(name: str) -> dict[str, Any]:
    """Return one project by name (or owner/name)."""
    return projects.project_json(projects.find_project(name))


@bp.get("/api/metrics")
@bp.output(MetricsOut)
def overall_metrics() -> Response:
    """Return totals, leaders, languages and averages across visible projects."""
    return cached_json("metrics", versions.projects_version, _metrics_body)
