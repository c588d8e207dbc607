"""Projects as readers see them: which are visible, one serializer for both JSON shapes, the rollup.

The visibility rule lives here and only here. The admin token sees every project. Anyone else sees
a project in full (metadata, metrics, commits, authors, history, events, job errors) only when it is
public on GitHub and not hidden; a private, not hidden project whose owner set `public_metrics`
shows its metadata and metrics (lists, rollup, its own page) but nothing of its history.
A GitHub event shows to anyone else only when GitHub marked it public (`public: true`, stored in
`events.public`) and its repository is not a tracked one the reader may not see in detail, so an
event of a private repository nobody tracks stays concealed too (`event_visibility`).

`project_json` is the portfolio's shape (`/api/projects`, contract fields first); `repository_json`
is the tracked-repository shape (`/api/repos`). Both build their shared keys in `_shared`, so a
field is written once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, nulls_last, or_, select, true
from sqlalchemy.orm import load_only

from analysis import metrics
from infra.admin import request_is_admin
from infra.errors import APIError
from infra.extensions import db
from models import MAX_INT32, Event, EventRepo, Project


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
        "public_metrics": bool(project.public_metrics),
        "paused": bool(project.paused),
        "metadata_checked_at": metrics.iso(project.metadata_checked_at),
        "last_error": project.last_error,
        "last_error_at": metrics.iso(project.last_error_at),
        "created_at": metrics.iso(project.created_at),
        "updated_at": metrics.iso(project.updated_at),
    }


def reader_is_admin() -> bool:
    """Tell whether the current reader presented the admin token (or none is configured)."""
    return request_is_admin()


def detail_condition(admin: bool | None = None) -> ColumnElement[bool]:
    """Return the condition of projects whose commits, authors, history and events the reader may see."""
    if reader_is_admin() if admin is None else admin:
        return true()
    return and_(Project.private.is_(False), Project.hidden.is_(False))


def listed_condition(admin: bool | None = None) -> ColumnElement[bool]:
    """Return the condition of projects whose metadata and metrics the reader may see."""
    if reader_is_admin() if admin is None else admin:
        return true()
    return and_(Project.hidden.is_(False), or_(Project.private.is_(False), Project.public_metrics.is_(True)))


def shows_detail(project: Project) -> bool:
    """Tell whether the reader may see this project's commits, authors, history and events."""
    return reader_is_admin() or not (project.private or project.hidden)


def detailed_ids() -> Any:
    """Return a subquery of the ids of the projects the reader may see in detail."""
    return select(Project.id).where(detail_condition()).scalar_subquery()


def concealed_names() -> set[str]:
    """Return the lower-case `owner/name` of every tracked project the reader may not see in detail."""
    if reader_is_admin():
        return set()
    condition = or_(Project.private.is_(True), Project.hidden.is_(True))
    return set(db.session.scalars(select(Project.full_name_key).where(condition)))


def concealed_github_ids() -> set[int]:
    """Return the GitHub ids of every tracked project the reader may not see in detail."""
    if reader_is_admin():
        return set()
    condition = and_(or_(Project.private.is_(True), Project.hidden.is_(True)), Project.github_id.is_not(None))
    return set(db.session.scalars(select(Project.github_id).where(condition)))


def event_visibility(admin: bool | None = None) -> dict[str, Any]:
    """Return the EventFilter fields (events/queries.py) that keep to the events the reader may see.

    An event names its repository by GitHub id (kept across renames) and name: a concealed tracked
    repository is matched by id, and by name only for an event without an id or a repository
    without one. `visible` is the rule as SQL on `events`, `visible_repos` the same rule on the
    per-repository counters (`event_repos`, which keep a missing name as "" and a missing id as 0);
    `concealed` (`concealed_repos`) is exactly the public events (counter rows) it leaves out
    (index-friendly, by id), so per-hour counters of public events can be corrected.
    """
    if reader_is_admin() if admin is None else admin:
        return {}
    rows = list(db.session.execute(select(Project.full_name_key, Project.github_id).where(~detail_condition(False))))
    ids = sorted({i for _, i in rows if i is not None})
    names = sorted({key for key, _ in rows})
    unnumbered = sorted({key for key, i in rows if i is None})
    visible, concealed = _event_rule(Event.public, Event.repo_id, Event.repo_name, Event.repo_id.is_(None),
                                     Event.repo_name.is_(None), ids, names, unnumbered)  # fmt: skip
    visible_repos, concealed_repos = _event_rule(EventRepo.public, EventRepo.repo_id, EventRepo.repo_name,
                                                 EventRepo.repo_id == 0, EventRepo.repo_name == "", ids, names,
                                                 unnumbered)  # fmt: skip
    return {"visible": visible, "visible_repos": visible_repos, "public_only": True, "concealed": concealed,
            "concealed_repos": concealed_repos}  # fmt: skip


def _event_rule(public: Any, repo_id: Any, repo_name: Any, no_id: Any, no_name: Any, ids: list[int],
                names: list[str], unnumbered: list[str]) -> tuple[Any, Any]:  # fmt: skip
    """Return (the visible events, the public events left out or None) as SQL over these columns."""
    name = func.lower(repo_name)
    visible: list[ColumnElement[bool]] = [public.is_(True)]
    matches: list[ColumnElement[bool]] = []
    if ids:
        visible.append(or_(no_id, repo_id.not_in(ids)))
        matches.append(repo_id.in_(ids))
    if names:
        visible.append(or_(~no_id, no_name, name.not_in(names)))
        matches.append(and_(no_id, name.in_(names)))
    if unnumbered:
        visible.append(or_(no_name, name.not_in(unnumbered)))
        matches.append(name.in_(unnumbered))
    concealed = and_(public.is_(True), or_(*matches)) if matches else None
    return and_(*visible), concealed


def visible_events() -> ColumnElement[bool]:
    """Return the condition of the events the reader may see."""
    return event_visibility().get("visible", true())


@dataclass(frozen=True)
class Concealed:
    """What the current reader may not see of tracked repositories (nothing for the admin token)."""

    ids: frozenset[int] = frozenset()
    names: frozenset[str] = frozenset()
    admin: bool = True

    @classmethod
    def of_reader(cls) -> Concealed:
        """Return what the current reader may not see in detail."""
        if reader_is_admin():
            return cls()
        rows = db.session.execute(select(Project.id, Project.full_name_key).where(~detail_condition(admin=False)))
        pairs = list(rows)
        return cls(frozenset(i for i, _ in pairs), frozenset(k for _, k in pairs), admin=False)

    def shows(self, project_id: int | None, repository: str | None) -> bool:
        """Tell whether a record about this repository may be shown (an untracked one only to the admin)."""
        if self.admin:
            return True
        if project_id is None:
            return False
        return project_id not in self.ids and (repository or "").lower() not in self.names

    def shows_job(self, project_id: int | None) -> bool:
        """Tell whether a refresh job (of one repository, or of all when None) may be shown."""
        return self.admin or project_id is None or project_id not in self.ids

    def redact(self, text: str | None) -> str | None:
        """Replace the concealed repositories' names in a message."""
        if text is None or self.admin or not self.names:
            return text
        for name in sorted(self.names, key=len, reverse=True):
            text = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", "(not shown)", text, flags=re.IGNORECASE)
        return text


def visible_projects(*, only: tuple[Any, ...] = ()) -> list[Project]:
    """Return the projects the portfolio shows to this reader: not hidden, featured first, latest work first.

    `only` names the columns to load (others load when read), for readers that need a few.
    """
    query = (
        db.select(Project)
        .where(Project.hidden.is_(False), listed_condition())
        .order_by(Project.featured.desc(), nulls_last(Project.last_commit_date.desc()), Project.name, Project.owner)
    )
    if only:
        query = query.options(load_only(*only))
    return list(db.session.scalars(query))


def find_project(name: str, detail: bool = False) -> Project:
    """Find a visible project by repository name, or by `owner/name` when names collide.

    With `detail`, only a project whose commits and history the reader may see is found.
    """
    if "/" in name:
        owner, _, repo = name.partition("/")
        condition = Project.full_name_key == f"{owner}/{repo}".lower()
    else:
        condition = func.lower(Project.name) == name.lower()
    visible = detail_condition() if detail else listed_condition()
    query = db.select(Project).where(condition, Project.hidden.is_(False), visible)
    matches = list(db.session.scalars(query))
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


def readable_repository(repo_id: int, detail: bool = False) -> Project:
    """Return a tracked repository the reader may see (in detail with `detail`), else 404."""
    visible = detail_condition() if detail else listed_condition()
    found = None
    if 0 < repo_id <= MAX_INT32:
        found = db.session.scalar(select(Project).where(Project.id == repo_id, visible))
    if found is None:
        raise APIError(404, "Repository not found")
    return found


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
