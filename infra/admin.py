"""Tell whether the current request carries the admin token (`Authorization: Bearer <ADMIN_TOKEN>`).

It sits here, below every feature package, so the read side (`reports`) can apply the visibility
rule and the HTTP layer (`api.auth`) can guard writes with the same comparison.
"""

from __future__ import annotations

import hmac

from flask import has_request_context, request

from infra.runtime import current_settings


def presented_token() -> str | None:
    """Return the bearer token of the current request, if any."""
    if not has_request_context():
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def request_is_admin() -> bool:
    """Tell whether the request may write and read everything: no ADMIN_TOKEN configured, or it is presented."""
    expected = current_settings().admin_token
    if not expected:
        return True
    token = presented_token()
    if token is None:
        return False
    return hmac.compare_digest(token.encode(), expected.encode())
