"""Serve the chart pages (HTML): the event charts and the project charts, all assets local."""

from __future__ import annotations

import dataclasses
import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from apiflask import APIBlueprint
from flask import Response, render_template, request
from flask.typing import ResponseReturnValue

from api.events import AvgTimeQuery, TotalCountQuery, since
from events import queries
from infra.errors import APIError
from reports import figures, series
from reports.projects import find_project, visible_projects

bp = APIBlueprint("charts", __name__, tag="Charts")
STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "charts"
OWN_ASSETS = {"charts.js", "charts.css"}
MAX_POINTS = 2000  # newest events plotted per type; the average line still covers every event
HTML = {200: {"description": "An HTML page.", "content": {"text/html": {"schema": {"type": "string"}}}}}
NO_EVENTS = "No events match these filters."


def page(title: str, figure: dict[str, Any] | None, empty: str, **context: Any) -> str:
    """Render a chart page, or its "no data" message when the figure is None."""
    return render_template("charts/chart.html", title=title, figure=figure, empty=empty, **context)


def describe(query: Any) -> list[tuple[str, Any]]:
    """Return the filters given, for the page's subtitle."""
    return [(name, value) for name, value in query.model_dump().items() if value is not None]


@bp.get("/charts")
@bp.doc(responses=HTML)
def index() -> str:
    """List the chart pages."""
    names = [p.full_name for p in visible_projects()]
    return render_template("charts/index.html", title="Charts", projects=names)


@bp.get("/charts/event-avg-time")
@bp.input(AvgTimeQuery, location="query", arg_name="query")
@bp.doc(responses=HTML)
def event_avg_time(query: AvgTimeQuery) -> str:
    """Chart, per event type, the gaps between events and their average."""
    filters = query.filters(event_type=query.event_type)
    gaps = [
        figures.GapSeries(kind, queries.recent_times(_of_type(filters, kind), MAX_POINTS), found.avg_gap, found.count)
        for kind, found in queries.spans_by_type(filters).items()
        if found.count >= 2
    ]
    figure = figures.avg_time_figure(gaps)
    return page("Average time between events", figure, NO_EVENTS + " (A gap needs at least 2 events.)",
                filters=describe(query), max_points=MAX_POINTS)  # fmt: skip


def _of_type(filters: queries.EventFilter, kind: str) -> queries.EventFilter:
    return dataclasses.replace(filters, event_type=kind)


@bp.get("/charts/events-total-count")
@bp.input(TotalCountQuery, location="query", arg_name="query")
@bp.doc(responses=HTML)
def events_total_count(query: TotalCountQuery) -> str:
    """Chart the number of events per type within the last `offset` seconds."""
    spans = queries.spans_by_type(query.filters(since=since(query.offset)))
    figure = figures.total_count_figure({kind: found.count for kind, found in spans.items()})
    return page("Events per type", figure, NO_EVENTS, filters=describe(query))


@bp.get("/charts/projects/loc-by-language")
@bp.doc(responses=HTML)
def loc_by_language() -> str:
    """Chart lines of code by language across the visible projects."""
    figure = figures.loc_by_language_figure(series.loc_by_language(visible_projects()))
    return page("Lines of code by language", figure, "No line counts yet: run a refresh first.")


@bp.get("/charts/projects/<path:name>/commits-per-week")
@bp.doc(responses={**HTML, 404: "Project not found"})
def commits_per_week(name: str) -> str:
    """Chart a project's commits per week."""
    project = find_project(name, detail=True)
    figure = figures.commits_per_week_figure(series.commits_per_week(project.id))
    return page(f"Commits per week: {project.full_name}", figure, f"No commits recorded for {project.full_name} yet.")


@bp.get("/charts/projects/<path:name>/stars")
@bp.doc(responses={**HTML, 404: "Project not found"})
def stars(name: str) -> str:
    """Chart a project's stars over time, from its recorded history."""
    project = find_project(name, detail=True)
    figure = figures.stars_figure(series.stars_history(project))
    empty = f"No star history recorded for {project.full_name} yet (it has {project.stars or 0} stars now)."
    return page(f"Stars over time: {project.full_name}", figure, empty)


@bp.get("/charts/assets/<path:filename>")
@bp.doc(responses={200: {"description": "A script or stylesheet.",
                         "content": {"application/javascript": {"schema": {"type": "string"}}}},
                   404: "No such asset"})  # fmt: skip
def asset(filename: str) -> ResponseReturnValue:
    """Send a chart page's script or stylesheet (plotly.js from the installed package)."""
    if filename == "plotly.min.js":
        return _from_memory(Path(figures.PLOTLY_JS_DIR) / filename, 86400)
    if filename in OWN_ASSETS:
        return _from_memory(STATIC_DIR / filename, 3600)
    raise APIError(404, "No such chart asset")


@cache
def _asset_bytes(path: Path) -> tuple[bytes, str]:
    data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:32]


def _from_memory(path: Path, max_age: int) -> Response:
    """Send an asset from memory: a streamed file body is left open when the response is compressed."""
    data, etag = _asset_bytes(path)
    mimetype = "text/css" if path.suffix == ".css" else "text/javascript"
    response = Response(data, mimetype=mimetype)
    response.cache_control.public, response.cache_control.max_age = True, max_age
    response.set_etag(etag)
    return response.make_conditional(request)
