"""Render every error of the app as one JSON shape: `{"error": message, "code": slug, "details": [...]}`.

Seed 004's `{"error": "Project not found"}` stays valid: `error` keeps its meaning and the
other two keys are additions.
"""

from __future__ import annotations

import logging
from typing import Any

from apiflask import APIFlask, HTTPError
from flask import Response
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from infra.errors import CODES, APIError

log = logging.getLogger(__name__)

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "Human-readable message."},
        "code": {"type": "string", "description": "Machine-readable error code."},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "location": {"type": "string"},
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                },
                "additionalProperties": True,
            },
        },
    },
    "required": ["error", "code", "details"],
    "additionalProperties": True,
}


def _validation_details(detail: Any) -> list[dict[str, Any]]:
    """Flatten APIFlask's `{location: {field: [messages]}}` into a list of field errors."""
    if isinstance(detail, list):
        return detail
    details: list[dict[str, Any]] = []
    if not isinstance(detail, dict):
        return details
    for location, fields in detail.items():
        if not isinstance(fields, dict):
            details.append({"location": location, "field": "", "message": str(fields)})
            continue
        for field, messages in fields.items():
            for message in messages if isinstance(messages, list) else [messages]:
                details.append({"location": location, "field": str(field), "message": str(message)})
    return details


def _body(error: HTTPError) -> dict[str, Any]:
    extra = dict(error.extra_data or {})
    code = extra.pop("code", None) or CODES.get(error.status_code, "error")
    message = error.message or "Error"
    if error.status_code == 422 and message == "Validation error":
        message = "Invalid input"
    return {"error": message, "code": code, "details": _validation_details(error.detail), **extra}


def init_app(app: APIFlask) -> None:
    """Make every error of the app, expected or not, a JSON body of the one shape."""

    @app.error_processor
    def render(error: HTTPError) -> tuple[dict[str, Any], int, Any]:
        return _body(error), error.status_code, error.headers

    @app.errorhandler(OperationalError)
    def database_unavailable(exc: OperationalError) -> tuple[dict[str, Any], int]:
        log.error("database unavailable: %s", type(exc.orig).__name__ if exc.orig else "error")
        return _body(APIError(503, "Database unavailable")), 503

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response | tuple[dict[str, Any], int]:
        if isinstance(exc, HTTPException):
            # Routing errors (404/405) that APIFlask did not already turn into HTTPError.
            return _body(HTTPError(exc.code or 500, exc.description or exc.name)), exc.code or 500
        log.exception("unhandled error")
        return _body(APIError(500, "Internal server error")), 500
