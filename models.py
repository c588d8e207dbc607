"""Define the database tables (SQLAlchemy 2.0 typed mappings); datetimes are timezone-aware UTC, on SQLite too."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from infra.extensions import db

JSONType, PayloadType = JSON().with_variant(JSONB(), "postgresql"), JSON()  # payload: json ingests faster than jsonb

KIND_GITHUB = "github"
KIND_GIT = "git"
JOB_QUEUED = "queued"
JOB_RUNNING = "running"
JOB_COMPLETED = "completed"
JOB_FAILED = "failed"
ACTIVE_JOB_STATUSES = (JOB_QUEUED, JOB_RUNNING)

ITEM_PENDING = "pending"
ITEM_RUNNING = "running"
ITEM_DONE = "done"
ITEM_FAILED = "failed"
ITEM_SKIPPED = "skipped"
FINISHED_ITEM_STATUSES = (ITEM_DONE, ITEM_FAILED, ITEM_SKIPPED)

MAX_INT32 = 2**31 - 1  # the largest value of an Integer column (ids, counts compared with them)

SOURCE_DISCOVERED = "discovered"
SOURCE_ADDED = "added"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Store datetimes as UTC and always hand back aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render custom column types in Alembic migrations as plain SQLAlchemy types."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def full_name_key(owner: str, name: str) -> str:
    """Return the case-insensitive identity of a repository (GitHub names ignore case)."""
    return f"{owner}/{name}".lower()


class Project(db.Model):
    """A tracked GitHub repository with its metadata and computed metrics."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    github_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    owner: Mapped[str] = mapped_column(String(39))
    name: Mapped[str] = mapped_column(String(100), index=True)
    full_name_key: Mapped[str] = mapped_column(String(140), unique=True)
    source: Mapped[str] = mapped_column(String(16), default=SOURCE_DISCOVERED)
    # "github" (metadata from GitHub's API) or "git" (any git host or a local path: git only)
    kind: Mapped[str] = mapped_column(String(16), default=KIND_GITHUB, server_default=KIND_GITHUB)
    host: Mapped[str | None] = mapped_column(String(255))

    # GitHub metadata
    description: Mapped[str | None] = mapped_column(Text)
    html_url: Mapped[str | None] = mapped_column(String(500))
    clone_url: Mapped[str | None] = mapped_column(String(1000))
    homepage: Mapped[str | None] = mapped_column(String(500))
    default_branch: Mapped[str | None] = mapped_column(String(255))
    stars: Mapped[int] = mapped_column(Integer, default=0)
    forks: Mapped[int] = mapped_column(Integer, default=0)
    watchers: Mapped[int] = mapped_column(Integer, default=0)
    open_issues: Mapped[int] = mapped_column(Integer, default=0)
    size_kb: Mapped[float] = mapped_column(Float, default=0.0)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    fork: Mapped[bool] = mapped_column(Boolean, default=False)
    topics: Mapped[list[str]] = mapped_column(JSONType, default=list)
    languages: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)
    primary_language: Mapped[str | None] = mapped_column(String(100))
    pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    github_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    metadata_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # metrics (seed 004), derived from the stored commits and the LOC count of HEAD
    commit_count: Mapped[int] = mapped_column(Integer, default=0)
    active_days: Mapped[int] = mapped_column(Integer, default=0)
    time_spent_min: Mapped[float] = mapped_column(Float, default=0.0)
    first_commit_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_commit_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    code_churn: Mapped[int] = mapped_column(BigInteger, default=0)
    loc: Mapped[int] = mapped_column(BigInteger, default=0)
    loc_by_language: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)
    # Code lines linguist counts as written here (no vendored, generated or documentation paths);
    # None until counted.
    authored_loc: Mapped[int | None] = mapped_column(Integer)
    authored_loc_by_language: Mapped[dict[str, int] | None] = mapped_column(JSONType)
    head_sha: Mapped[str | None] = mapped_column(String(64))
    loc_head_sha: Mapped[str | None] = mapped_column(String(64))
    analysis_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # Bumped by reset-collection-date; a refresh that started before a bump does not commit.
    history_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # What the last complete analysis saw: GitHub's pushed_at and the rules (parser, exclusions).
    # A full refresh skips the repository while both still hold (nothing was pushed since).
    synced_pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    synced_rules: Mapped[str | None] = mapped_column(String(64))

    # user-editable (PATCH /api/repos/<id>)
    display_name: Mapped[str | None] = mapped_column(String(200))
    description_override: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    featured: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    # a private repository's metadata and metrics (never its commits or events) shown to anyone
    public_metrics: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    paused: Mapped[bool] = mapped_column(Boolean, default=False)

    # bookkeeping
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    last_refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Last default-branch push announced by a webhook; a refresh that claimed the project before it
    # is followed by another one (the push may have landed after its fetch).
    refresh_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def __repr__(self) -> str:
        return f"<Project {self.full_name}>"


class RefreshJob(db.Model):
    """One refresh run, of every project (`scope="all"`) or of one (`scope="repo"`)."""

    __tablename__ = "refresh_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    status: Mapped[str] = mapped_column(String(16), default=JOB_QUEUED, index=True)
    trigger: Mapped[str] = mapped_column(String(32), default="api")
    scope: Mapped[str] = mapped_column(String(16), default="all")
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"))
    # Holds "all" or "repo:<id>" while the job is queued or running, NULL after: the unique
    # index makes a second concurrent refresh of the same scope impossible on every database.
    active_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_message: Mapped[str | None] = mapped_column(Text)
    repositories_processed: Mapped[int] = mapped_column(Integer, default=0)
    repositories_failed: Mapped[int] = mapped_column(Integer, default=0)
    total_repositories: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    items: Mapped[list[RefreshJobItem]] = relationship(
        back_populates="job", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def progress(self) -> float:
        if not self.total_repositories:
            return 0.0
        return round(self.repositories_processed / self.total_repositories * 100, 1)


class RefreshJobItem(db.Model):
    """One repository's part of a refresh job (fan-out unit)."""

    __tablename__ = "refresh_job_items"
    __table_args__ = (UniqueConstraint("job_id", "project_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("refresh_jobs.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"), index=True)
    repository: Mapped[str] = mapped_column(String(140))
    status: Mapped[str] = mapped_column(String(16), default=ITEM_PENDING, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    job: Mapped[RefreshJob] = relationship(back_populates="items")


class RepoUpdate(db.Model):
    """A change seen on a project by a refresh (stars 10 → 12, new commits, rename, …)."""

    __tablename__ = "repo_updates"
    __table_args__ = (Index("ix_repo_updates_project_type_time", "project_id", "update_type", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    update_type: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeletedRepository(db.Model):
    """A repository deleted by a user: auto-discovery must not bring it back."""

    __tablename__ = "deleted_repositories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    github_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    full_name_key: Mapped[str] = mapped_column(String(140), index=True)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Commit(db.Model):
    """A commit reachable from a project's default-branch HEAD."""

    __tablename__ = "commits"
    __table_args__ = (
        UniqueConstraint("project_id", "sha"),
        Index("ix_commits_project_committed", "project_id", "committed_at"),
        Index("ix_commits_project_author", "project_id", "author_email"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    sha: Mapped[str] = mapped_column(String(64))
    author_name: Mapped[str] = mapped_column(String(255), default="")
    author_email: Mapped[str] = mapped_column(String(255), default="")
    authored_at: Mapped[datetime] = mapped_column(UTCDateTime)
    committer_name: Mapped[str] = mapped_column(String(255), default="")
    committer_email: Mapped[str] = mapped_column(String(255), default="")
    committed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    committed_day: Mapped[date] = mapped_column(Date)  # UTC calendar date, for active_days
    additions: Mapped[int] = mapped_column(BigInteger, default=0)
    deletions: Mapped[int] = mapped_column(BigInteger, default=0)
    files_changed: Mapped[int] = mapped_column(Integer, default=0)
    # additions + deletions outside the excluded directories; 0 for merges (seed-004 churn)
    churn: Mapped[int] = mapped_column(BigInteger, default=0)
    subject: Mapped[str] = mapped_column(Text, default="")
    is_merge: Mapped[bool] = mapped_column(Boolean, default=False)


class LocBlob(db.Model):
    """Line counts of one file content (git blob) under one language key, shared by all projects."""

    __tablename__ = "loc_blobs"

    blob_sha: Mapped[str] = mapped_column(String(64), primary_key=True)
    lang_key: Mapped[str] = mapped_column(String(120), primary_key=True)
    language: Mapped[str | None] = mapped_column(String(100))
    code: Mapped[int] = mapped_column(BigInteger, default=0)
    comment: Mapped[int] = mapped_column(BigInteger, default=0)
    blank: Mapped[int] = mapped_column(BigInteger, default=0)


class HttpCacheEntry(db.Model):
    """The last 200 answer of a GitHub resource with its validators, for conditional requests."""

    __tablename__ = "http_cache"

    key: Mapped[str] = mapped_column(String(700), primary_key=True)
    etag: Mapped[str | None] = mapped_column(String(255))
    last_modified: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[Any] = mapped_column(JSONType)
    link: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(db.Model):
    """A GitHub event (id unique)."""

    __tablename__ = "events"
    # Few indexes keep ingest fast: aggregates read event_hours / event_repos. By GitHub id and time: a
    # repository's events across renames (visibility; a concealed repository's window).
    __table_args__ = (Index("ix_events_repo_type_created", "repo_name", "type", "created_at"),
                      Index("ix_events_repo_id_created", "repo_id", "created_at"))  # fmt: skip

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(64))
    repo_id: Mapped[int | None] = mapped_column(BigInteger)
    repo_name: Mapped[str | None] = mapped_column(String(140))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_login: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    payload: Mapped[Any] = mapped_column(PayloadType)
    inserted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    public: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())  # GitHub's `public` flag


class EventSource(db.Model):
    """Polling state of one GitHub events feed (ETag, poll interval, last result)."""

    __tablename__ = "event_sources"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    path: Mapped[str] = mapped_column(String(300))
    etag: Mapped[str | None] = mapped_column(String(255))
    poll_interval: Mapped[int] = mapped_column(Integer, default=60)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    events_stored: Mapped[int] = mapped_column(BigInteger, default=0)
    newest_event_id: Mapped[int | None] = mapped_column(BigInteger)


class WebhookDelivery(db.Model):
    """A GitHub webhook delivery already handled (X-GitHub-Delivery), kept for de-duplication."""

    __tablename__ = "webhook_deliveries"

    delivery_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    event: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class WebhookCount(db.Model):
    """How many webhook deliveries ended in each outcome, per event (a Prometheus counter)."""

    __tablename__ = "webhook_counts"

    event: Mapped[str] = mapped_column(String(64), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class EventHour(db.Model):
    """Events per hour, type, action ("" for none) and `public` flag, kept in step with `events` at ingest:
    window counts over all repositories read whole hours here (events/queries.py), not the events."""

    __tablename__ = "event_hours"

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    type: Mapped[str] = mapped_column(String(64), primary_key=True)
    action: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    public: Mapped[bool] = mapped_column(Boolean, primary_key=True, default=True)  # the events' `public` flag
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    oldest: Mapped[datetime] = mapped_column(UTCDateTime)
    newest: Mapped[datetime] = mapped_column(UTCDateTime)


class EventRepo(db.Model):
    """Events per repository (name "" / id 0 when absent), type, action and `public` flag (event_hours' twin)."""

    __tablename__ = "event_repos"

    repo_name: Mapped[str] = mapped_column(String(140), primary_key=True)
    type: Mapped[str] = mapped_column(String(64), primary_key=True)
    action: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    repo_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, default=0)
    public: Mapped[bool] = mapped_column(Boolean, primary_key=True, default=True)  # the events' `public` flag
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    oldest: Mapped[datetime] = mapped_column(UTCDateTime)
    newest: Mapped[datetime] = mapped_column(UTCDateTime)
