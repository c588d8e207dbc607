"""Faults a test can queue on the GitHub stand-in (`standin.inject(pattern, fault, times=N)`).

Each constructor returns a `Fault`; bodies and headers come from the recordings named in
`shapes.TEMPLATES`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from tests.standin.shapes import BAD_CREDENTIALS, DOCS, FORBIDDEN, NOT_FOUND, recorded_response


@dataclass(frozen=True)
class Fault:
    """One injected answer (or misbehaviour) of the stand-in."""

    kind: str  # "status" | "primary" | "secondary" | "delay" | "hold" | "drop" | "malformed"
    name: str
    status: int = 200
    template: str = "error"
    body: Any = None
    retry_after: float | None = None
    reset_in: float = 0.0
    seconds: float = 0.0
    rate_headers: bool = True
    extra_headers: dict[str, str] = field(default_factory=dict)
    gate: threading.Event | None = None


def status(code: int, body: Any = None) -> Fault:
    """Answer with this status and GitHub's error body for it (charged like any answer)."""
    if code >= 500:
        return Fault(
            "status", f"status {code}", code, "server_error", body or recorded_response("server_error")["body"]
        )
    default = {"message": "Error", "documentation_url": DOCS}
    return Fault("status", f"status {code}", code, "error", body or default)


def not_found() -> Fault:
    """Answer 404 Not Found."""
    return status(404, NOT_FOUND)


def unauthorized() -> Fault:
    """Answer 401 Bad credentials."""
    return status(401, BAD_CREDENTIALS)


def forbidden() -> Fault:
    """Answer a 403 that is not a rate limit (a missing permission)."""
    return status(403, FORBIDDEN)


def server_error(code: int = 500) -> Fault:
    """Answer a 5xx with the recorded 500 body and headers."""
    return status(code)


def rate_limit_primary(reset_in: float = 2.0) -> Fault:
    """Exhaust the caller's budget now (remaining 0, reset in `reset_in` s): 403s until the reset."""
    return Fault("primary", "primary rate limit", 403, "primary", reset_in=reset_in)


def rate_limit_secondary(retry_after: float | None = 60, code: int = 403, rate_headers: bool = True) -> Fault:
    """Answer a secondary rate limit: the recorded 403 with `Retry-After`, or the docs' bare one.

    `retry_after=None` gives the documented answer without `Retry-After` (clients wait >= 60 s).
    """
    if retry_after is None:
        body = recorded_response("secondary_bare")["body"]
        return Fault("secondary", "secondary rate limit", code, "secondary_bare", body, rate_headers=rate_headers)
    # a 429 gets the documented secondary wording; a 403 the recorded "abuse detection" one
    body = recorded_response("secondary_bare" if code == 429 else "secondary")["body"]
    return Fault(
        "secondary", "secondary rate limit", code, "secondary", body, retry_after=retry_after, rate_headers=rate_headers
    )


def too_many_requests(retry_after: float | None = 1) -> Fault:
    """Answer 429 with `Retry-After` (a secondary rate limit)."""
    return rate_limit_secondary(retry_after, code=429)


def delay(seconds: float) -> Fault:
    """Answer normally, but only after `seconds` (longer than the client's read timeout to test it)."""
    return Fault("delay", f"delay {seconds}s", seconds=seconds)


def hold(gate: threading.Event, limit: float = 300.0) -> Fault:
    """Answer normally once the test sets `gate` (at most `limit` s later): the caller waits at a known point."""
    return Fault("hold", "hold until released", seconds=limit, gate=gate)


def drop() -> Fault:
    """Close the connection without answering."""
    return Fault("drop", "connection drop")


def malformed_json() -> Fault:
    """Answer 200 with the normal headers and a truncated JSON body."""
    return Fault("malformed", "malformed JSON")
