"""Commit rows written by COPY's text format equal those of a plain INSERT, whatever their text holds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select

from analysis.numstat import CommitRecord
from infra.extensions import db
from models import Commit, Project, full_name_key
from refresh import commit_sync

ODD = "tab\there, new\nline, cr\r, back\\slash \\N \\t, quote ' \" , unicode é 漢字 🙂, nul-free"


def record(sha: str, **changes: Any) -> CommitRecord:
    values: dict[str, Any] = {
        "sha": sha, "parents": (), "author_name": "Ada", "author_email": "ada@example.com",
        "authored_at": datetime(2024, 3, 7, 9, 0, tzinfo=UTC), "committer_name": "Ada",
        "committer_email": "ada@example.com", "committed_at": datetime(2024, 3, 7, 23, 59, 59, tzinfo=UTC),
        "subject": "Subject", "is_merge": False, "additions": 3, "deletions": 1, "files_changed": 2, "churn": 4,
    }  # fmt: skip
    values.update(changes)
    return CommitRecord(**values)


RECORDS = [
    record("a" * 40),
    record("b" * 40, author_name=ODD, author_email=ODD, committer_name=ODD, committer_email=ODD, subject=ODD),
    record("c" * 40, author_name="x\\" * 200, subject="", is_merge=True, churn=0, parents=("1" * 40, "2" * 40)),
    record("d" * 40, authored_at=datetime.min.replace(tzinfo=UTC), committed_at=datetime.max.replace(tzinfo=UTC)),
    record("e" * 40, committed_at=datetime(1970, 1, 1, tzinfo=UTC), additions=2**40, deletions=2**40 + 1),
]
COLUMNS = [c for c in commit_sync.COPY_COLUMNS if c != "project_id"]


def rows(project_id: int) -> list[tuple]:
    query = select(*(getattr(Commit, c) for c in COLUMNS)).where(Commit.project_id == project_id)
    return sorted(db.session.execute(query).all())


def test_copy_stores_what_an_insert_stores(app: Any) -> None:
    with app.app_context():
        ids = []
        for name in ("copied", "inserted"):
            project = Project(owner="o", name=name, full_name_key=full_name_key("o", name))
            db.session.add(project)
            db.session.flush()
            ids.append(project.id)
        commit_sync.insert_records(ids[0], RECORDS)  # COPY on PostgreSQL
        db.session.execute(insert(Commit), commit_sync.commit_rows(ids[1], RECORDS))
        db.session.commit()
        copied, inserted = rows(ids[0]), rows(ids[1])
    assert copied == inserted
    assert len(copied) == len(RECORDS)
    assert copied[1][COLUMNS.index("subject")] == ODD
    assert copied[2][COLUMNS.index("author_name")] == ("x\\" * 200)[:255]
