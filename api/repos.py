"""Serve tracked repositories: add by owner/name or URL, list, read, edit, delete, history."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response, request

from api.auth import SECURITY_SCHEME, admin_required
from api.refresh import RefreshStarted, started_json
from api.repo_schemas import (
    EDITABLE,
    HistoryPage,
    HistoryQuery,
    ListQuery,
    RepoCreate,
    RepoCreated,
    RepoOut,
    RepoPage,
    RepoPatch,
    RepoPut,
    SeriesOut,
)
from infra.pagination import Page, link_header
from refresh import tracking
from reports import history, projects

bp = APIBlueprint("repos", __name__, tag="Tracked repositories")
ADMIN = {"security": [{SECURITY_SCHEME: []}]}
NOT_FOUND = {404: "Repository not found"}
UNAUTHORIZED = {401: "Admin token missing or wrong"}
BAD_JSON = {400: "The body is not JSON"}


def page_json(page: Page, items: list[Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Return a page body and its GitHub-style `Link` header."""
    body = {"items": items, "page": page.page, "per_page": page.per_page, "total": page.total, "pages": page.pages}
    link = link_header(request.base_url, request.args.to_dict(), page.page, page.pages, page.per_page)
    return body, ({"Link": link} if link else {})


@bp.post("/api/repos")
@admin_required
@bp.input(RepoCreate, arg_name="body")
@bp.output(RepoCreated, status_code=201, description="Tracked; its refresh has started")
@bp.doc(**ADMIN, responses={**BAD_JSON, **UNAUTHORIZED, 404: "Not on GitHub (or not visible to the token)",
                            409: "Already tracked", 502: "GitHub failed", 503: "GitHub rate limit"})  # fmt: skip
def add_repo(body: RepoCreate) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Track a GitHub repository given by owner and name or by URL, or any git host's repository by URL."""
    named = (body.owner, body.owner_name, body.repo_name) != (None, None, None)
    if body.url is not None and not named and not tracking.on_github_host(body.url):
        project, job = tracking.add_git_repository(body.url, web_only=True)  # git alone, GitHub-only fields null
    else:
        ref = tracking.reference(body.owner, body.repo_name, body.url, owner_name=body.owner_name)
        project, job = tracking.add_repository(ref)
    created = {"refresh_job_id": job.id, "check_status_url": f"/api/refresh/status/{job.id}"}
    return {**projects.repository_json(project), **created}, 201, {"Location": f"/api/repos/{project.id}"}


@bp.get("/api/repos")
@bp.input(ListQuery, location="query", arg_name="query")
@bp.output(RepoPage)
def list_repos(query: ListQuery) -> tuple[dict[str, Any], int, dict[str, str]]:
    """List tracked repositories, filtered, sorted and paginated."""
    page = tracking.list_repositories(tracking.Listing(**query.model_dump()), projects.listed_condition())
    body, headers = page_json(page, [projects.repository_json(p) for p in page.items])
    return body, 200, headers


@bp.get("/api/repos/<int:repo_id>")
@bp.output(RepoOut)
@bp.doc(responses=NOT_FOUND)
def get_repo(repo_id: int) -> dict[str, Any]:
    """Return one tracked repository."""
    return projects.repository_json(projects.readable_repository(repo_id))


@bp.patch("/api/repos/<int:repo_id>")
@admin_required
@bp.input(RepoPatch, arg_name="body")
@bp.output(RepoOut)
@bp.doc(**ADMIN, responses={**BAD_JSON, **UNAUTHORIZED, **NOT_FOUND})
def patch_repo(repo_id: int, body: Any) -> dict[str, Any]:
    """Edit a repository's display name, description override, tags, featured, hidden or paused."""
    changes = body.model_dump(include=body.model_fields_set)
    return projects.repository_json(tracking.update_repository(repo_id, changes))


@bp.put("/api/repos/<int:repo_id>")
@admin_required
@bp.input(RepoPut, arg_name="body")
@bp.output(RepoOut)
@bp.doc(**ADMIN, responses={**BAD_JSON, **UNAUTHORIZED, **NOT_FOUND})
def put_repo(repo_id: int, body: Any) -> dict[str, Any]:
    """Replace every editable field of a repository at once."""
    return projects.repository_json(tracking.update_repository(repo_id, body.model_dump(include=set(EDITABLE))))


@bp.delete("/api/repos/<int:repo_id>")
@admin_required
@bp.output({}, status_code=204, description="Deleted; auto-discovery will not bring it back")
@bp.doc(**ADMIN, responses={**UNAUTHORIZED, **NOT_FOUND})
def delete_repo(repo_id: int) -> Response:
    """Stop tracking a repository and forget everything stored about it."""
    tracking.delete_repository(repo_id)
    return Response(status=204)


@bp.post("/api/repos/<int:repo_id>/refresh")
@admin_required
@bp.output(RefreshStarted, status_code=202)
@bp.doc(**ADMIN, responses={**UNAUTHORIZED, **NOT_FOUND})
def refresh_repo(repo_id: int) -> dict[str, Any]:
    """Refresh one repository in the background (returns the refresh in progress, if any)."""
    return started_json(*tracking.refresh_repository(repo_id))


@bp.get("/api/repos/<int:repo_id>/history")
@bp.input(HistoryQuery, location="query", arg_name="query")
@bp.output(HistoryPage)
@bp.doc(responses=NOT_FOUND)
def repo_history_page(repo_id: int, query: HistoryQuery) -> tuple[dict[str, Any], int, dict[str, str]]:
    """List what refreshes saw change on a repository, newest first."""
    project = projects.readable_repository(repo_id, detail=True)
    types = query.type.split(",") if query.type else []
    page = history.history_page(project, types, query.page, query.per_page)
    body, headers = page_json(page, page.items)
    return body, 200, headers


@bp.get("/api/repos/<int:repo_id>/history/stars")
@bp.output(SeriesOut)
@bp.doc(responses=NOT_FOUND)
def stars_series(repo_id: int) -> dict[str, Any]:
    """Return a repository's stars over time."""
    return history.series(projects.readable_repository(repo_id, detail=True), "stars")


@bp.get("/api/repos/<int:repo_id>/history/forks")
@bp.output(SeriesOut)
@bp.doc(responses=NOT_FOUND)
def forks_series(repo_id: int) -> dict[str, Any]:
    """Return a repository's forks over time."""
    return history.series(projects.readable_repository(repo_id, detail=True), "forks")
