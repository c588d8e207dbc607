"""Serve the stored commit history: commits, contributors, activity, re-collection."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from functools import wraps
from typing import Any, Literal

from apiflask import APIBlueprint
from flask import request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from api.auth import LIMITED, SECURITY_SCHEME, admin_required, costly_limit
from api.fields import query_text
from api.refresh import RefreshStarted, started_json
from infra.admin import request_is_admin
from infra.errors import validation_error
from infra.extensions import limiter
from models import MAX_INT32
from refresh import lifecycle, resets
from refresh.tracking import get_repository
from reports import commit_stats, projects
from reports.commit_stats import CommitFilter

bp = APIBlueprint("commits", __name__, tag="Commits")


class WindowQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: AwareDatetime | None = Field(None, description="Committed at or after (ISO 8601 with offset).")
    until: AwareDatetime | None = Field(None, description="Committed before (ISO 8601 with offset).")
    author: query_text(255) | None = Field(None, description="Author email or name (exact, any case).")  # type: ignore[valid-type]

    @model_validator(mode="after")
    def ordered(self) -> WindowQuery:
        if self.since and self.until and self.since >= self.until:
            raise ValueError("since must be before until")
        return self

    def window(self) -> CommitFilter:
        return CommitFilter(since=self.since, until=self.until, author=self.author)


class CommitsQuery(WindowQuery):
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, max_length=200, description="next_cursor of the previous page.")


class ActivityQuery(WindowQuery):
    bucket: Literal["day", "week", "month"] = "week"


class ContributorsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(10, ge=1, le=100)
    repo: int | None = Field(None, ge=1, le=MAX_INT32, description="Only this repository's commits (its id).")


class ResetBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reset_from: date | AwareDatetime = Field(description="Forget commits from this date (UTC midnight) or time.")

    def since(self) -> datetime:
        if isinstance(self.reset_from, datetime):
            return self.reset_from
        return datetime.combine(self.reset_from, time.min, tzinfo=UTC)


class CommitOut(BaseModel):
    sha: str
    author_name: str
    author_email: str
    authored_at: str
    committer_name: str
    committed_at: str
    subject: str
    additions: int
    deletions: int
    files_changed: int
    is_merge: bool


class CommitPage(BaseModel):
    repository: str
    items: list[CommitOut]
    limit: int
    next_cursor: str | None


class Contributor(BaseModel):
    name: str
    email: str
    commits: int
    additions: int
    deletions: int
    first_commit: str | None
    last_commit: str | None


class ContributorsOut(BaseModel):
    repository_id: int | None
    contributors: list[Contributor]


class ActivityPoint(BaseModel):
    start: str = Field(description="First day of the bucket (weeks start on Monday).")
    commits: int
    additions: int
    deletions: int


class ActivityOut(BaseModel):
    repository: str
    bucket: str
    points: list[ActivityPoint]


class ResetOut(RefreshStarted):
    commits_forgotten: int


@bp.get("/api/repos/<int:repo_id>/commits")
@bp.input(CommitsQuery, location="query", arg_name="query")
@bp.output(CommitPage)
@bp.doc(responses={404: "Repository not found"})
def list_commits(repo_id: int, query: CommitsQuery) -> dict[str, Any]:
    """List a repository's commits, newest first, with cursor pagination."""
    project = projects.readable_repository(repo_id, detail=True)
    return commit_stats.commit_page(project, query.window(), query.limit, query.cursor)


def cheap_contributors() -> bool:
    """Tell whether a contributors request escapes the costly-read limit: the admin's, or one repository's."""
    return request_is_admin() or bool(request.args.get("repo"))


@bp.get("/api/commits/top-contributors")
@limiter.limit(costly_limit, exempt_when=cheap_contributors)
@bp.input(ContributorsQuery, location="query", arg_name="query")
@bp.output(ContributorsOut)
@bp.doc(responses={404: "Repository not found (the `repo` filter)", **LIMITED})
def top_contributors(query: ContributorsQuery) -> dict[str, Any]:
    """Rank authors by commits, across all repositories or one."""
    if query.repo is not None:
        projects.readable_repository(query.repo, detail=True)
    return commit_stats.top_contributors(query.limit, query.repo, projects.detailed_ids())


@bp.get("/api/repos/<int:repo_id>/activity")
@bp.input(ActivityQuery, location="query", arg_name="query")
@bp.output(ActivityOut)
@bp.doc(responses={404: "Repository not found"})
def repo_activity(repo_id: int, query: ActivityQuery) -> dict[str, Any]:
    """Sum a repository's commits, additions and deletions per day, week or month."""
    project = projects.readable_repository(repo_id, detail=True)
    return commit_stats.activity(project, query.bucket, query.window())


def body_required(view: Any) -> Any:
    """Answer 422 (the documented validation error), not 400, when the JSON body is missing altogether."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not request.get_data(cache=True).strip():
            raise validation_error([("reset_from", "Field required")])
        return view(*args, **kwargs)

    return wrapper


@bp.post("/api/repos/<int:repo_id>/reset-collection-date")
@admin_required
@body_required
@bp.input(ResetBody, arg_name="body")
@bp.output(ResetOut, status_code=202)
@bp.doc(
    security=[{SECURITY_SCHEME: []}],
    responses={401: "Admin token missing or wrong", 404: "Repository not found", 409: "A refresh of it is running"},
)
def reset_collection_date(repo_id: int, body: ResetBody) -> dict[str, Any]:
    """Forget a repository's commits from a date and re-read them with a refresh (409 while one runs)."""
    project = get_repository(repo_id)
    forgotten = resets.reset_collection(project, body.since())
    job, outcome = lifecycle.start_refresh(trigger="reset_collection_date", project=project)
    return {**started_json(job, outcome), "commits_forgotten": forgotten}
