"""The one error the service raises for a client to see: `APIError(status, message, code=, details=)`.

Services raise it; `api.errors` renders it (and every other failure) as the one JSON shape.
"""

from __future__ import annotations

from typing import Any

from apiflask import HTTPError

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    502: "github_error",
    503: "unavailable",
}


class APIError(HTTPError):
    """An error the API answers with; raise it from views and services."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        data = {"code": code or CODES.get(status_code, "error"), **(extra or {})}
        super().__init__(status_code, message, detail=details or [], headers=headers, extra_data=data)


def validation_error(problems: list[tuple[str, str]], location: str = "json") -> APIError:
    """Return the 422 of the one error shape, one detail per (field, message)."""
    details = [{"location": location, "field": field, "message": message} for field, message in problems]
    return APIError(422, "Invalid input", details=details)
