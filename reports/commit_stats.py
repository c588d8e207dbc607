"""Query stored commit history: pages of commits, top contributors, activity buckets."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Date, DateTime, Select, and_, cast, func, or_, select

from analysis import metrics
from infra.errors import validation_error
from infra.extensions import db
from models import Commit, Project

BUCKETS = ("day", "week", "month")


def commit_json(commit: Commit) -> dict[str, Any]:
    return {
        "sha": commit.sha,
        "author_name": commit.author_name,
        "author_email": commit.author_email,
        "authored_at": metrics.iso(commit.authored_at),
        "committer_name": commit.committer_name,
        "committed_at": metrics.iso(commit.committed_at),
        "subject": commit.subject,
        "additions": commit.additions,
        "deletions": commit.deletions,
        "files_changed": commit.files_changed,
        "is_merge": commit.is_merge,
    }


def encode_cursor(commit: Commit) -> str:
    raw = f"{commit.committed_at.isoformat()}|{commit.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Decode an opaque cursor; a damaged one is a 422 on the `cursor` field."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, ident = raw.partition("|")
        parsed = datetime.fromisoformat(when)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed, int(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise validation_error([("cursor", "Not a cursor returned by this API")], location="query") from None


@dataclass(frozen=True)
class CommitFilter:
    since: datetime | None = None
    until: datetime | None = None
    author: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.since is not None:
            conditions.append(Commit.committed_at >= self.since)
        if self.until is not None:
            conditions.append(Commit.committed_at < self.until)
        if self.author:
            needle = self.author.lower()
            conditions.append(or_(func.lower(Commit.author_email) == needle, func.lower(Commit.author_name) == needle))
        return conditions


def commit_page(project: Project, where: CommitFilter, limit: int, cursor: str | None) -> dict[str, Any]:
    """Return commits newest first, `limit` at a time, with the cursor of the next page."""
    query = select(Commit).where(Commit.project_id == project.id, *where.conditions())
    if cursor:
        when, ident = decode_cursor(cursor)
        query = query.where(or_(Commit.committed_at < when, and_(Commit.committed_at == when, Commit.id < ident)))
    rows = list(db.session.scalars(query.order_by(Commit.committed_at.desc(), Commit.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "repository": project.full_name,
        "items": [commit_json(c) for c in rows],
        "limit": limit,
        "next_cursor": encode_cursor(rows[-1]) if more and rows else None,
    }


def top_contributors(limit: int, project_id: int | None, readable_ids: Any = None) -> dict[str, Any]:
    """Rank authors by commits (identities merged by .mailmap when the history was read).

    `readable_ids` (a subquery of project ids) limits the ranking to the projects the reader may see.
    """
    email = func.lower(Commit.author_email)
    query: Select[Any] = select(
        email.label("email"),
        func.max(Commit.author_name).label("name"),
        func.count(Commit.id).label("commits"),
        func.coalesce(func.sum(Commit.additions), 0).label("additions"),
        func.coalesce(func.sum(Commit.deletions), 0).label("deletions"),
        func.min(Commit.committed_at).label("first_commit"),
        func.max(Commit.committed_at).label("last_commit"),
    ).group_by(email)
    if project_id is not None:
        query = query.where(Commit.project_id == project_id)
    if readable_ids is not None:
        query = query.where(Commit.project_id.in_(readable_ids))
    query = query.order_by(func.count(Commit.id).desc(), email).limit(limit)
    return {
        "repository_id": project_id,
        "contributors": [
            {
                "name": row.name,
                "email": row.email,
                "commits": row.commits,
                "additions": int(row.additions),
                "deletions": int(row.deletions),
                "first_commit": metrics.iso(row.first_commit),
                "last_commit": metrics.iso(row.last_commit),
            }
            for row in db.session.execute(query)
        ],
    }


def bucket_expression(bucket: str) -> ColumnElement[Any]:
    """Return the SQL for the first day of a commit's day/week (Monday)/month, per database."""
    day = Commit.committed_day
    if db.engine.dialect.name == "postgresql":
        # date_trunc on a plain timestamp: no session time zone can shift the day.
        return cast(func.date_trunc(bucket, cast(day, DateTime())), Date) if bucket != "day" else day
    if bucket == "week":
        return func.date(day, "weekday 0", "-6 days", type_=Date)
    if bucket == "month":
        return func.date(day, "start of month", type_=Date)
    return func.date(day, type_=Date)


def activity(project: Project, bucket: str, where: CommitFilter) -> dict[str, Any]:
    """Sum commits, additions and deletions per bucket, oldest first."""
    start = bucket_expression(bucket).label("start")
    query = (
        select(
            start,
            func.count(Commit.id),
            func.coalesce(func.sum(Commit.additions), 0),
            func.coalesce(func.sum(Commit.deletions), 0),
        )
        .where(Commit.project_id == project.id, *where.conditions())
        .group_by(start)
        .order_by(start)
    )
    return {
        "repository": project.full_name,
        "bucket": bucket,
        "points": [
            {"start": _as_date(first).isoformat(), "commits": n, "additions": int(a), "deletions": int(d)}
            for first, n, a, d in db.session.execute(query)
        ],
    }


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
