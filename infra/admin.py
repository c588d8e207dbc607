"""Tell whether the current request carries the admin token (`Authorization: Bearer <ADMIN_TOKEN>`).

It sits here, below every feature package, so the read side (`reports`) can apply the visibility
rule and the HTTP layer (`api.auth`) can guard writes with the same comparison.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path

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


ADMIN_TOKEN_FILE = "admin_token"  # noqa: S105  # a file name, not a secret


def instance_admin_token(instance_path: str) -> tuple[str, Path]:
    """Return the admin token kept in the instance folder, creating it (mode 0600) on first start.

    Several gunicorn workers may start at once: the token is written to a private temporary file
    and hard-linked to its final name, which fails when another process got there first; then
    that process's complete file is read. The token itself is never logged.
    """
    folder = Path(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ADMIN_TOKEN_FILE
    if not path.exists():
        fd, temporary = tempfile.mkstemp(prefix=".admin_token.", dir=folder)  # created with mode 0600
        try:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(32) + "\n")
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)  # atomic, and like O_EXCL it never replaces an existing file
        finally:
            os.unlink(temporary)
    token = path.read_text().strip()
    if not token:
        raise RuntimeError(f"The admin token file {path} is empty: delete it to have a new one generated")
    return token, path
