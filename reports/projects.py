"""Projects as readers see them: which are visible, one serializer for both JSON shapes, the rollup.

`project_json` is the portfolio's shape (`/api/projects`, contract fields first); `repository_json`
is the tracked-repository shape (`/api/repos`). Both build their shared keys in `_shared`, so a
field is written once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, nulls_last
from sqlalchemy.orm import load_only

from analysis import metrics
from infra.errors import APIError
from infra.extensions import db
from models import Project


def _shared(project: Project) -> dict[str, Any]:
    """Return the keys both shapes carry, in the contract's formats."""
    return {
        **metrics.contract_fields(project),
        "id": project.id,
        "full_name": project.full_name,
        "owner": project.owner,
        "display_name": project.display_name,
        "html_url": project.html_url,
        "homepage": project.homepage,
        "topics": list(project.topics or []),
        "tags": list(project.tags or []),
        "featured": bool(project.featured),
        "archived": bool(project.archived),
        "stars": project.stars or 0,
        "forks": project.forks or 0,
        "watchers": project.watchers or 0,
        "open_issues": project.open_issues or 0,
        "loc_by_language": dict(project.loc_by_language or {}),
        "authored_loc": project.authored_loc or 0,
        "authored_loc_by_language": dict(project.authored_loc_by_language or {}),
        "first_commit_date": metrics.iso(project.first_commit_date),
        "last_commit_date": metrics.iso(project.last_commit_date),
        "pushed_at": metrics.iso(project.pushed_at),
        "last_refreshed_at": metrics.iso(project.last_refreshed_at),
    }


def project_json(project: Project) -> dict[str, Any]:
    """Serialise a project for the portfolio: the contract's fields plus the added ones."""
    return {
        "name": project.name,
        **_shared(project),
        "description": project.description_override or project.description,
    }


def repository_json(project: Project) -> dict[str, Any]:
    """Serialise a tracked repository: identity, GitHub metadata, metrics and the owner's fields."""
    return {
        **_shared(project),
        "owner_name": project.owner,
        "repo_name": project.name,
        "source": project.source,
        "github_id": project.github_id,
        "description": project.description,
        "default_branch": project.default_branch,
        "private": bool(project.private),
        "fork": bool(project.fork),
        "languages": dict(project.languages or {}),
        "github_created_at": metrics.iso(project.github_created_at),
        "description_override": project.description_override,
        "hidden": bool(project.hidden),
        "paused": bool(project.paused),
        "metadata_checked_at": metrics.iso(project.metadata_checked_at),
        "last_error": project.last_error,
        "last_error_at": metrics.iso(project.last_error_at),
        "created_at": metrics.iso(project.created_at),
        "updated_at": metrics.iso(project.updated_at),
    }


def visible_projects(*, only: tuple[Any, ...] = ()) -> list[Project]:
    """Return the projects the portfolio shows: not hidden, featured first, latest work first.

    `only` names the columns to load (others load when read), for readers that need a few.
    """
    query = (
        db.select(Project)
        .where(Project.hidden.is_(False))
        .order_by(Project.featured.desc(), nulls_last(Project.last_commit_date.desc()), Project.name, Project.owner)
    )
    if only:
        query = query.options(load_only(*only))
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


def rollup(projects: list[Project]) -> dict[str, Any]:
    """Return the overall metrics (totals, leaders, languages, averages) of these projects."""
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
        for p in projects
    ]
    authored: dict[str, int] = {}
    for p in projects:
        for language, lines in (p.authored_loc_by_language or {}).items():
            authored[language] = authored.get(language, 0) + lines
    return {
        **metrics.rollup(figures),
        "total_authored_loc": sum(p.authored_loc or 0 for p in projects),
        "authored_loc_by_language": dict(sorted(authored.items(), key=lambda item: (-item[1], item[0]))),
    }
