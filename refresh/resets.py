"""Reset a repository's collection date without racing a refresh of it.

A refresh reads the stored HEAD when it starts and writes new commits and HEAD when it ends. A
reset in between would delete commits the refresh then never re-reads. So a reset answers 409
while a refresh of the repository is running, and bumps `history_generation` under the project's
row lock; a refresh that started before the bump does not commit (`check_not_reset`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select

from infra.errors import APIError
from infra.extensions import db
from models import ITEM_RUNNING, Project, RefreshJobItem
from refresh import commit_sync

RESET_WHILE_REFRESHING = "A refresh of this repository is running; reset its collection date when it has finished"
RESET_DURING_REFRESH = "The repository's collection date was reset during this refresh; the next refresh reads it again"


class HistoryReset(Exception):
    """The repository's history was reset while this refresh ran; nothing of it was committed."""


def lock_generation(project_id: int) -> int:
    """Lock the project's row until the transaction ends and return its history generation."""
    query = select(Project.history_generation).where(Project.id == project_id).with_for_update()
    return int(db.session.execute(query).scalar_one() or 0)


def reset_collection(project: Project, since: datetime) -> int:
    """Forget commits from `since` (commits the transaction); return how many were forgotten."""
    generation = lock_generation(project.id)
    running = exists().where(RefreshJobItem.project_id == project.id, RefreshJobItem.status == ITEM_RUNNING)
    if db.session.scalar(select(running)):
        db.session.rollback()
        raise APIError(409, RESET_WHILE_REFRESHING)
    forgotten = commit_sync.forget_since(project, since)
    project.history_generation = generation + 1
    db.session.commit()
    return forgotten


def check_not_reset(project_id: int, generation: int) -> None:
    """Before a refresh commits: lock the row and raise HistoryReset if a reset happened since it began."""
    if lock_generation(project_id) != generation:
        raise HistoryReset(RESET_DURING_REFRESH)
