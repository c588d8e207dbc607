"""Find the token owner's own repositories on GitHub and keep a Project row for each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_, select

from gh.access import github_client
from infra.extensions import db
from models import SOURCE_DISCOVERED, DeletedRepository, Project, full_name_key
from refresh.metadata import apply_repository


def is_tombstoned(data: Mapping[str, Any]) -> bool:
    """Tell whether a user deleted this repository from tracking (then it stays deleted)."""
    key = full_name_key(data["owner"]["login"], data["name"])
    condition = or_(DeletedRepository.github_id == data.get("id"), DeletedRepository.full_name_key == key)
    return db.session.scalar(select(DeletedRepository.id).where(condition).limit(1)) is not None


def find_existing(data: Mapping[str, Any]) -> Project | None:
    """Find a project by GitHub id (follows renames), else by owner/name."""
    if data.get("id") is not None:
        project = db.session.scalar(select(Project).where(Project.github_id == data["id"]))
        if project is not None:
            return project
    key = full_name_key(data["owner"]["login"], data["name"])
    return db.session.scalar(select(Project).where(Project.full_name_key == key))


def upsert(data: Mapping[str, Any], source: str) -> Project:
    """Create or update the project for a GitHub repository JSON (history rows for changes)."""
    project = find_existing(data)
    if project is None:
        project = Project(owner=data["owner"]["login"], name=data["name"], source=source,
                          full_name_key=full_name_key(data["owner"]["login"], data["name"]))  # fmt: skip
        db.session.add(project)
        db.session.flush()
    db.session.add_all(apply_repository(project, data))
    return project


def discover() -> list[Project]:
    """Upsert every non-fork repository owned by the token's user; return those projects."""
    gh = github_client()
    login = gh.authenticated_user()["login"].lower()
    repositories, _changed = gh.list_owned_repositories()
    projects = []
    for data in repositories:
        if data.get("fork") or data["owner"]["login"].lower() != login or is_tombstoned(data):
            continue
        projects.append(upsert(data, SOURCE_DISCOVERED))
    db.session.commit()
    return projects


def refreshable_projects() -> list[Project]:
    """Return every project a full refresh covers (all but the paused ones)."""
    query = select(Project).where(Project.paused.is_(False)).order_by(Project.id)
    return list(db.session.scalars(query))
