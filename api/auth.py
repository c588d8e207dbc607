"""Protect write endpoints with `Authorization: Bearer <ADMIN_TOKEN>` (when ADMIN_TOKEN is set)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import request

from infra.errors import APIError
from infra.runtime import current_settings

F = TypeVar("F", bound=Callable[..., Any])
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="project-tracker"'}
# OpenAPI security scheme name used by every protected route.
SECURITY_SCHEME = "AdminToken"


def presented_token() -> str | None:
    """Return the bearer token of the current request, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def is_admin() -> bool:
    """Tell whether the request may write: no ADMIN_TOKEN configured, or the right one presented."""
    expected = current_settings().admin_token
    if not expected:
        return True
    token = presented_token()
    if token is None:
        return False
    return hmac.compare_digest(token.encode(), expected.encode())


def check_admin() -> None:
    """Raise 401 with a challenge unless the request carries the admin token."""
    if not is_admin():
        raise APIError(401, "Missing or invalid admin token", headers=CHALLENGE)


def admin_required(view: F) -> F:
    """Decorate a view so it needs the admin token."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_admin()
        return view(*args, **kwargs)

    wrapper._admin_required = True  # type: ignore[attr-defined]  # read by the route-auth test
    return wrapper  # type: ignore[return-value]
