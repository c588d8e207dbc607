"""Track repositories by hand: add one from GitHub, list, read, edit, delete and refresh them.

A tracked repository is a `Project` row (one vocabulary for both). Adding one costs one
GitHub call; its metrics come from the background refresh started right after.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, exists, func, literal, nulls_last, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError

from analysis import metrics
from gh.access import rate_governor
from gh.cache import DbConditionalCache, prune_repository, prune_url_suffix
from gh.client import GitHubClient
from gh.gitlab import is_gitlab_host, project_api_path
from gh.names import LOCAL_HOST, RefError, RepoRef, accepted_hosts, check_pair, parse_git_location, parse_url, url_host
from gh.rules import (
    GitHubBadResponse,
    GitHubError,
    GitHubForbidden,
    GitHubNotFound,
    GitHubRateLimited,
    GitHubUnauthorized,
)
from infra.errors import APIError, validation_error
from infra.extensions import db
from infra.pagination import Page, paginate
from infra.redaction import redact
from infra.runtime import runtime
from models import (
    ACTIVE_JOB_STATUSES,
    KIND_GIT,
    MAX_INT32,
    SOURCE_ADDED,
    DeletedRepository,
    Project,
    RefreshJob,
    full_name_key,
    utcnow,
)
from refresh import lifecycle
from refresh.metadata import apply_repository

log = logging.getLogger(__name__)
DELETED_NOTE = "The repository was deleted from tracking"
WEB_SCHEMES = ("https://", "http://")
SORT_COLUMNS = {
    "name": (func.lower(Project.name), func.lower(Project.owner)),
    "stars": (Project.stars,),
    "loc": (Project.loc,),
    "last_commit": (Project.last_commit_date,),
    "created": (Project.created_at,),
}


@dataclass(frozen=True)
class Listing:
    """Filters, order and page of `GET /api/repos`."""

    owner: str | None = None
    language: str | None = None
    source: str | None = None
    tag: str | None = None
    sort: str = "name"
    direction: str | None = None
    page: int = 1
    per_page: int = 30


def reference(owner: str | None, name: str | None, url: str | None, owner_name: str | None = None) -> RepoRef:
    """Return the repository named by a URL, or by owner and name (exactly one of the two forms)."""
    if owner is not None and owner_name is not None:
        raise validation_error([("owner_name", "Give owner or owner_name (an older name for owner), not both")])
    owner = owner if owner is not None else owner_name
    if url is not None and (owner is not None or name is not None):
        given = "owner" if owner is not None else "repo_name"
        raise validation_error([(given, "Give either url, or owner and repo_name, not both")])
    try:
        if url is not None:
            settings = runtime().settings
            return parse_url(url, accepted_hosts(settings.github_git_host, settings.github_api_url))
        missing = [
            (f, "Required (or give url instead)") for f, v in (("owner", owner), ("repo_name", name)) if v is None
        ]
        if missing:
            raise validation_error(missing)
        assert owner is not None and name is not None
        return check_pair(owner, name)
    except RefError as exc:
        raise validation_error([(p.field, p.message) for p in exc.problems]) from None


def get_repository(repo_id: int) -> Project:
    """Return a tracked repository by id, or raise 404."""
    project = db.session.get(Project, repo_id) if 0 < repo_id <= MAX_INT32 else None
    if project is None:
        raise APIError(404, "Repository not found")
    return project


# -- add ----------------------------------------------------------------------------------


def interactive_github() -> GitHubClient:
    """Return the GitHub client of API requests: no waiting through pauses, one quick retry."""
    rt = runtime()
    client = rt.extras.get("github_interactive")
    if client is None:
        s = rt.settings
        quick = s.with_overrides(
            github_max_retries=min(s.github_max_retries, 1),
            github_backoff_max=min(s.github_backoff_max, 1.0),
            github_read_timeout=min(s.github_read_timeout, 10.0),
            github_max_pause=0.0,  # a paused budget is a 503 with Retry-After, not a hanging request
        )
        client = GitHubClient(quick, cache=DbConditionalCache(), governor=rate_governor(rt))
        rt.extras["github_interactive"] = client
    return client


def _retry_after(error: GitHubRateLimited) -> int:
    """Return the whole seconds until GitHub may be asked again (at least 1; 60 when unknown)."""
    if error.retry_at is None:
        return 60
    return max(1, math.ceil((error.retry_at - utcnow()).total_seconds()))


def github_failure(error: GitHubError, ref: RepoRef) -> APIError:
    """Turn a GitHub failure into the API's answer (the token is the server's: never a 401 here)."""
    message = redact(error.message, runtime().settings.secrets())
    if isinstance(error, GitHubNotFound):
        return APIError(404, f"GitHub does not know the repository {ref.full_name}, or the server's token "
                             "cannot see it", code="github_not_found")  # fmt: skip
    if isinstance(error, GitHubRateLimited):
        wait = _retry_after(error)
        return APIError(503, f"GitHub's rate limit is exhausted: try again in {wait} s", code="github_rate_limited",
                        headers={"Retry-After": str(wait)})  # fmt: skip
    log.warning("looking up %s on GitHub failed: %s", ref.full_name, message)
    if isinstance(error, GitHubUnauthorized | GitHubForbidden):
        return APIError(502, f"GitHub refused the server's credentials (GITHUB_ACCESS_TOKEN): {message}",
                        code="github_credentials")  # fmt: skip
    return APIError(502, f"GitHub failed or did not answer in time: {message}", code="github_unavailable")


def fetch_repository(ref: RepoRef) -> dict[str, Any]:
    """Look a repository up on GitHub (a renamed one through GitHub's redirect)."""
    try:
        data = interactive_github().get_repository(ref.owner, ref.name)
        if not (isinstance(data, dict) and isinstance(data.get("owner"), dict) and data.get("name")):
            raise GitHubBadResponse("GitHub's repository answer has no owner or name")
        if "login" not in data["owner"]:
            raise GitHubBadResponse("GitHub's repository answer has no owner login")
    except GitHubError as exc:
        raise github_failure(exc, ref) from None
    return data


def find_tracked(key: str, github_id: int | None = None) -> Project | None:
    """Find a tracked repository by `owner/name` key or GitHub id."""
    condition = Project.full_name_key == key
    if github_id is not None:
        condition = or_(condition, Project.github_id == github_id)
    return db.session.scalar(select(Project).where(condition).order_by(Project.id).limit(1))


def already_tracked(project: Project) -> APIError:
    """Return the 409 naming the repository that is already tracked."""
    return APIError(409, f"{project.full_name} is already tracked (id {project.id})", code="already_tracked",
                    extra={"id": project.id, "full_name": project.full_name})  # fmt: skip


def add_repository(ref: RepoRef) -> tuple[Project, RefreshJob]:
    """Track a GitHub repository, store its metadata and start its refresh; 409 when tracked."""
    requested = full_name_key(ref.owner, ref.name)
    existing = find_tracked(requested)
    if existing is not None:
        raise already_tracked(existing)
    db.session.rollback()  # end the read: no transaction stays open during the GitHub call
    data = fetch_repository(ref)
    owner, name = data["owner"]["login"], data["name"]
    key = full_name_key(owner, name)
    existing = find_tracked(key, data.get("id"))
    if existing is not None:
        raise already_tracked(existing)
    project = Project(owner=owner, name=name, full_name_key=key, source=SOURCE_ADDED)
    apply_repository(project, data)
    try:
        db.session.add(project)
        _forget_deletion(data.get("id"), {requested, key})
        db.session.commit()
    except IntegrityError:
        # A concurrent request added the same repository first: the unique keys decided.
        db.session.rollback()
        existing = find_tracked(key, data.get("id"))
        if existing is None:
            raise
        raise already_tracked(existing) from None
    job, _outcome = lifecycle.start_refresh(trigger="repo_added", project=project)
    return project, job


def on_github_host(url: str) -> bool:
    """Tell whether a URL's host is the configured GitHub's (then GitHub's naming rules and errors apply)."""
    settings = runtime().settings
    return url_host(url) in accepted_hosts(settings.github_git_host, settings.github_api_url)


def is_github_url(url: str) -> bool:
    """Tell whether a URL names a repository of the configured GitHub (else: any git host)."""
    settings = runtime().settings
    try:
        parse_url(url, accepted_hosts(settings.github_git_host, settings.github_api_url))
    except RefError:
        return False
    return True


def add_git_repository(url: str, *, web_only: bool = False) -> tuple[Project, RefreshJob]:
    """Track a repository of any git host (or a local path when allowed) by its git URL; 409 when tracked.

    No GitHub call: its metrics come from git alone, GitHub-only fields stay empty. `web_only`
    (the HTTP API) accepts http(s) URLs only, besides local paths when ALLOW_LOCAL_REPOSITORIES is set.
    """
    try:
        location = parse_git_location(url, allow_local=runtime().settings.allow_local_repositories)
    except RefError as exc:
        raise validation_error([(p.field, p.message) for p in exc.problems]) from None
    if web_only and location.host != LOCAL_HOST and not location.clone_url.lower().startswith(WEB_SCHEMES):
        raise validation_error([("url", "Give an https:// (or http://) git URL: https://<host>/<namespace>/<repo>")])
    existing = find_tracked(location.key)
    if existing is not None:
        raise already_tracked(existing)
    web = location.clone_url.removesuffix(".git") if location.clone_url.startswith(("https://", "http://")) else None
    # A GitLab project stays private (hidden from anonymous readers) until GitLab calls it public.
    private = is_gitlab_host(runtime().settings, location.host)
    project = Project(owner=location.namespace, name=location.name, full_name_key=location.key, source=SOURCE_ADDED,
                      kind=KIND_GIT, host=location.host, clone_url=location.clone_url, html_url=web,
                      private=private)  # fmt: skip
    try:
        db.session.add(project)
        _forget_deletion(None, {location.key})
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = find_tracked(location.key)
        if existing is None:
            raise
        raise already_tracked(existing) from None
    job, _outcome = lifecycle.start_refresh(trigger="repo_added", project=project)
    return project, job


def _forget_deletion(github_id: int | None, keys: set[str]) -> None:
    """Drop the tombstones of a repository added again explicitly."""
    condition = DeletedRepository.full_name_key.in_(sorted(keys))
    if github_id is not None:
        condition = or_(condition, DeletedRepository.github_id == github_id)
    db.session.execute(delete(DeletedRepository).where(condition))


# -- list, edit, delete, refresh -------------------------------------------------------------


def _has_tag(tag: str) -> Any:
    """Return the SQL condition "tags contains `tag`" (JSONB containment, or SQLite's json_each)."""
    if db.engine.dialect.name == "postgresql":
        return type_coerce(Project.tags, JSONB).contains([tag])
    values = func.json_each(Project.tags).table_valued("value")
    return exists(select(literal(1)).select_from(values).where(values.c.value == tag))


def _filtered(listing: Listing) -> Select[tuple[Project]]:
    """Return the query of the repositories matching the listing's filters."""
    query = select(Project)
    if listing.owner:
        query = query.where(func.lower(Project.owner) == listing.owner.lower())
    if listing.language:
        language = listing.language.lower()
        matches = [func.lower(Project.primary_language) == language]
        if language == metrics.UNKNOWN_LANGUAGE.lower():
            matches.append(Project.primary_language.is_(None))
        query = query.where(or_(*matches))
    if listing.source:
        query = query.where(Project.source == listing.source)
    if listing.tag:
        query = query.where(_has_tag(listing.tag))
    return query


def list_repositories(listing: Listing, visible: ColumnElement[bool] | None = None) -> Page:
    """Return one page of tracked repositories, filtered and sorted."""
    descending = (listing.direction or ("asc" if listing.sort == "name" else "desc")) == "desc"
    order = [nulls_last(c.desc()) if descending else nulls_last(c.asc()) for c in SORT_COLUMNS[listing.sort]]
    query = _filtered(listing) if visible is None else _filtered(listing).where(visible)
    return paginate(query, [*order, Project.id], listing.page, listing.per_page)


def update_repository(repo_id: int, changes: Mapping[str, Any]) -> Project:
    """Apply user edits (display name, description override, tags, featured, hidden, paused)."""
    project = get_repository(repo_id)
    for field, value in changes.items():
        setattr(project, field, value)
    db.session.commit()
    return project


def delete_repository(repo_id: int) -> None:
    """Stop tracking a repository, forget everything stored about it, and remember the deletion."""
    project = get_repository(repo_id)
    ident, github_id, key = project.id, project.github_id, project.full_name_key
    owner, name, kind, host = project.owner, project.name, project.kind, (project.host or "").lower()
    lifecycle.finish_items(ident, DELETED_NOTE, skipped=True)
    active = select(RefreshJob.id).where(RefreshJob.project_id == ident, RefreshJob.status.in_(ACTIVE_JOB_STATUSES))
    for job_id in list(db.session.scalars(active)):
        lifecycle.fail_job(job_id, DELETED_NOTE)
    # The foreign keys remove its commits and history and unlink refresh rows (ON DELETE CASCADE /
    # SET NULL; enforced on SQLite too, see extensions.sqlite_pragmas).
    db.session.execute(delete(Project).where(Project.id == ident))
    prune_repository(owner, name, github_id)  # its cached GitHub answers go with it
    if kind == KIND_GIT:  # and a GitLab project's cached answer
        prune_url_suffix(f"//{host}{project_api_path(f'{owner}/{name}')}")
    _forget_deletion(github_id, {key})
    db.session.add(DeletedRepository(github_id=github_id, full_name_key=key))
    db.session.commit()


def refresh_repository(repo_id: int) -> tuple[RefreshJob, str]:
    """Start a background refresh of one repository (or return the one in progress)."""
    return lifecycle.start_refresh(trigger="api", project=get_repository(repo_id))
