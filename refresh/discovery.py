"""Find the token owner's own repositories on GitHub and keep a Project row for each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from gh.access import github_client
from infra.extensions import db
from models import SOURCE_DISCOVERED, DeletedRepository, Project, full_name_key
from refresh.metadata import apply_repository


class _Known:
    """The tombstones and projects of the database, read once per discovery (not once per repository)."""

    def __init__(self) -> None:
        rows = db.session.execute(select(DeletedRepository.github_id, DeletedRepository.full_name_key)).all()
        self.deleted_ids = {github_id for github_id, _ in rows if github_id is not None}
        self.deleted_keys = {key for _, key in rows}
        self.by_id: dict[int, Project] = {}
        self.by_key: dict[str, Project] = {}
        for project in db.session.scalars(select(Project)):
            self.remember(project)

    def remember(self, project: Project) -> None:
        if project.github_id is not None:
            self.by_id.setdefault(project.github_id, project)
        self.by_key.setdefault(project.full_name_key, project)

    def is_tombstoned(self, data: Mapping[str, Any]) -> bool:
        """Tell whether a user deleted this repository from tracking (then it stays deleted)."""
        key = full_name_key(data["owner"]["login"], data["name"])
        return (data.get("id") is not None and data["id"] in self.deleted_ids) or key in self.deleted_keys

    def find(self, data: Mapping[str, Any]) -> Project | None:
        """Find a project by GitHub id (follows renames), else by owner/name."""
        if data.get("id") is not None and data["id"] in self.by_id:
            return self.by_id[data["id"]]
        return self.by_key.get(full_name_key(data["owner"]["login"], data["name"]))


def upsert(data: Mapping[str, Any], source: str, known: _Known) -> Project:
    """Create or update the project for a GitHub repository JSON (history rows for changes)."""
    project = known.find(data)
    if project is None:
        project = Project(owner=data["owner"]["login"], name=data["name"], source=source,
                          full_name_key=full_name_key(data["owner"]["login"], data["name"]))  # fmt: skip
        db.session.add(project)
        db.session.flush()
    db.session.add_all(apply_repository(project, data))
    known.remember(project)
    return project


def discover() -> list[Project]:
    """Upsert every non-fork repository owned by the token's user; return those projects."""
    gh = github_client()
    repositories, _changed = gh.list_owned_repositories()
    # `type=owner` lists the token owner's repositories alone, so their one owner login is the
    # token's: no `/user` call. Should the list ever mix owners, `/user` tells which is ours.
    owners = {data["owner"]["login"].lower() for data in repositories}
    login = owners.pop() if len(owners) == 1 else gh.authenticated_user()["login"].lower()
    known = _Known()
    projects = []
    for data in repositories:
        if data.get("fork") or data["owner"]["login"].lower() != login or known.is_tombstoned(data):
            continue
        projects.append(upsert(data, SOURCE_DISCOVERED, known))
    db.session.commit()
    return projects


def refreshable_projects() -> list[Project]:
    """Return every project a full refresh covers (all but the paused ones)."""
    query = select(Project).where(Project.paused.is_(False)).order_by(Project.id)
    return list(db.session.scalars(query))
