"""Protect write endpoints with `Authorization: Bearer <ADMIN_TOKEN>` (when ADMIN_TOKEN is set)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from infra.admin import request_is_admin
from infra.errors import APIError
from infra.runtime import current_settings

F = TypeVar("F", bound=Callable[..., Any])
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="project-tracker"'}
# OpenAPI security scheme name used by every protected route.
SECURITY_SCHEME = "AdminToken"


def is_admin() -> bool:
    """Tell whether the request may write: no ADMIN_TOKEN configured, or the right one presented."""
    return request_is_admin()


def check_admin() -> None:
    """Raise 401 with a challenge unless the request carries the admin token."""
    if not is_admin():
        raise APIError(401, "Missing or invalid admin token", headers=CHALLENGE)


LIMITED = {429: "Too many requests from this client: see Retry-After (the admin token is not limited)"}


def refresh_limit() -> str:
    return current_settings().rate_limit_refresh


def costly_limit() -> str:
    return current_settings().rate_limit_costly


def admin_required(view: F) -> F:
    """Decorate a view so it needs the admin token."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_admin()
        return view(*args, **kwargs)

    wrapper._admin_required = True  # type: ignore[attr-defined]  # read by the route-auth test
    return wrapper  # type: ignore[return-value]
