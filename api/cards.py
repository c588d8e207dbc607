"""Serve the embeddable SVG cards: always SVG, errors too (an <img> cannot show JSON)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from apiflask import APIBlueprint
from flask import Response, request

from infra.errors import APIError
from infra.runtime import current_settings
from reports import cards, series
from reports.card_svg import CardOptionError, Options, error_card, parse_options
from reports.projects import find_project, visible_projects

bp = APIBlueprint("cards", __name__, tag="Cards")
SVG = "image/svg+xml"
OPTIONS_DOC = "Options: theme (light, dark, dim, solarized, high-contrast), width (250-1000), hide (comma list), " \
    "limit (1-20), locale (en, de, pt-BR, ...), lines (authored or all)."  # fmt: skip


def _svg_doc(description: str) -> dict:
    return {"description": description, "content": {SVG: {"schema": {"type": "string"}}}}


def _doc(summary: str, *, project: bool) -> dict:
    responses = {200: _svg_doc(f"{summary} {OPTIONS_DOC}"), 304: "Not modified (If-None-Match matched the ETag)",
                 400: _svg_doc("An SVG error card: invalid option.")}  # fmt: skip
    if project:
        responses |= {404: _svg_doc("An SVG error card: unknown project."),
                      409: _svg_doc("An SVG error card: ambiguous name.")}  # fmt: skip
    return responses


def _svg(body: str, status: int = 200) -> Response:
    """Answer with an SVG; successful cards get a strong ETag, a 304 when it matches and Cache-Control."""
    response = Response(body, status=status, mimetype=SVG)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    if status != 200:
        response.headers["Cache-Control"] = "no-store"
        return response
    response.set_etag(hashlib.sha256(body.encode()).hexdigest()[:32])
    response.headers["Cache-Control"] = f"public, max-age={current_settings().card_max_age}"
    return response.make_conditional(request)


def _render(draw: Callable[[Options], str], *, width: int = 400, limit: int = 6) -> Response:
    args = {key: request.args.get(key, "") for key in request.args}
    try:
        options = parse_options(args, default_width=width, default_limit=limit)
    except CardOptionError as error:
        return _svg(error_card(str(error)), 400)
    try:
        return _svg(draw(options))
    except APIError as error:
        return _svg(error_card(error.message, options.theme), error.status_code)


@bp.get("/cards/projects/<path:name>.svg")
@bp.doc(responses=_doc("A project's pin card.", project=True))
def project_card(name: str) -> Response:
    """A pin card of one visible project: name, description, language, stars, forks, LOC, commits."""
    if name.endswith("/activity"):  # /cards/projects/<name>/activity.svg also matches this rule
        return activity_card(name.removesuffix("/activity"))
    return _render(lambda options: cards.project_card(find_project(name), options))


@bp.get("/cards/projects/<path:name>/activity.svg")
@bp.doc(responses=_doc("A project's commits per week over the last 52 weeks.", project=True))
def activity_card(name: str) -> Response:
    """Commits per week of one visible project over the last 52 weeks."""

    def draw(options: Options) -> str:
        project = find_project(name)
        return cards.activity_card(project, series.commits_per_week(project.id), options)

    return _render(draw, width=495)


@bp.get("/cards/languages.svg")
@bp.doc(responses=_doc("Top languages by lines of code across the visible projects.", project=False))
def languages_card() -> Response:
    """Top languages by lines (written by default; lines=all counts everything) across visible projects."""
    return _render(
        lambda options: cards.languages_card(visible_projects(only=cards.TOTALS_COLUMNS), options), width=350
    )


@bp.get("/cards/summary.svg")
@bp.doc(responses=_doc("Totals of the visible projects.", project=False))
def summary_card() -> Response:
    """Totals across the visible projects: projects, lines, commits, active days, time spent."""
    return _render(lambda options: cards.summary_card(visible_projects(only=cards.TOTALS_COLUMNS), options), width=350)
