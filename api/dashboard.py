"""Serve the dashboard (HTML): the project table, a page per project, the admin's refresh panel."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from apiflask import APIBlueprint
from flask import Response, render_template, request
from flask.typing import ResponseReturnValue

from infra.errors import APIError
from reports import figures, history, series
from reports.commit_stats import CommitFilter, commit_page
from reports.projects import find_project, project_json, shows_detail, visible_projects

bp = APIBlueprint("dashboard", __name__, tag="Dashboard")
STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "dashboard"
OWN_ASSETS = {"dashboard.js", "dashboard.css"}
HTML = {200: {"description": "An HTML page.", "content": {"text/html": {"schema": {"type": "string"}}}}}
RECENT_COMMITS = 15


@bp.get("/dashboard")
@bp.doc(responses=HTML)
def index() -> str:
    """The dashboard: a sortable, filterable table of the visible projects and the admin's refresh panel."""
    projects = [project_json(p) for p in visible_projects()]
    return render_template("dashboard/index.html", title="Dashboard", projects=projects)


@bp.get("/dashboard/projects/<path:name>")
@bp.doc(responses={**HTML, 404: "Project not found"})
def project(name: str) -> str:
    """One project: lines by language, commits per week, stars and forks over time, recent commits."""
    found = find_project(name)
    body = project_json(found)
    authored = body["authored_loc_by_language"] or body["loc_by_language"]
    charts: list[tuple[str, str, dict[str, Any] | None]] = [
        (
            "loc",
            "Lines written by language",
            figures.loc_by_language_figure([(found.name, authored)] if authored else []),
        ),
    ]
    recent: list[dict[str, Any]] = []
    if shows_detail(found):  # a private project opted in shows metrics only: no commits, no history
        charts += [
            ("commits", "Commits per week", figures.commits_per_week_figure(series.commits_per_week(found.id))),
            ("stars", "Stars over time", figures.stars_figure(series.stars_history(found))),
            ("forks", "Forks over time", _forks_figure(found)),
        ]
        recent = commit_page(found, CommitFilter(), RECENT_COMMITS, None)["items"]
    return render_template("dashboard/project.html", title=found.full_name, project=body, charts=charts,
                           recent=recent)  # fmt: skip


def _forks_figure(found: Any) -> dict[str, Any] | None:
    """Plot the recorded fork counts as the star chart plots stars."""
    points = history.series(found, "forks")["points"]
    figure = figures.stars_figure([(p["at"], p["value"]) for p in points] if len(points) >= 2 else [])
    if figure is not None:
        figure["layout"].setdefault("yaxis", {})["title"] = {"text": "forks"}
    return figure


@bp.get("/dashboard/assets/<path:filename>")
@bp.doc(responses={200: {"description": "A script or stylesheet.",
                         "content": {"application/javascript": {"schema": {"type": "string"}}}},
                   404: "No such asset"})  # fmt: skip
def asset(filename: str) -> ResponseReturnValue:
    """Send the dashboard's own script or stylesheet (plotly.js comes from /charts/assets)."""
    if filename not in OWN_ASSETS:
        raise APIError(404, "No such dashboard asset")
    # Sent from memory (small files): a streamed file body would be left open by response compression.
    mimetype = "text/css" if filename.endswith(".css") else "text/javascript"
    response = Response((STATIC_DIR / filename).read_bytes(), mimetype=mimetype)
    response.cache_control.public, response.cache_control.max_age = True, 3600
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:32])
    return response.make_conditional(request)
