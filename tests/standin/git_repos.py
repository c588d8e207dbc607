"""Serve git smart HTTP for the stand-in's repositories through `git http-backend` (CGI).

Like github.com, every request needs HTTP Basic credentials whose password is the token (any
user name); otherwise 401 with `WWW-Authenticate: Basic realm="GitHub"`, so git asks for
credentials and, with GIT_TERMINAL_PROMPT=0, fails with "Authentication failed".
"""

from __future__ import annotations

import base64
import binascii
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

GitAnswer = tuple[int, list[tuple[str, str]], bytes]

UNAUTHORIZED: GitAnswer = (
    401,
    [("WWW-Authenticate", 'Basic realm="GitHub"'), ("Content-Type", "text/plain"), ("Content-Length", "0")],
    b"",
)
NOT_FOUND: GitAnswer = (404, [("Content-Type", "text/plain"), ("Content-Length", "22")], b"Repository not found.\n")


def basic_password(authorization: str | None) -> str | None:
    """Return the password of an HTTP Basic `Authorization` value, if it is one."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2]


def _parse_cgi(output: bytes) -> GitAnswer:
    separator = b"\r\n\r\n" if b"\r\n\r\n" in output else b"\n\n"
    head, _, body = output.partition(separator)
    status, headers = 200, []
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        elif name:
            headers.append((name.strip(), value.strip()))
    return status, headers, body


def run_http_backend(
    git_dir: Path,
    rest: str,
    method: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    allow_filter: bool = True,
) -> GitAnswer:
    """Run `git http-backend` for one request on a local repository (bare or with a work tree).

    Like GitHub, partial clones (`--filter`) and fetches of any object by id are allowed unless
    `allow_filter` is False (a server that refuses filters).
    """
    if (git_dir / ".git").is_dir():
        git_dir = git_dir / ".git"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_PROJECT_ROOT=str(git_dir.parent),
        GIT_HTTP_EXPORT_ALL="1",
        PATH_INFO=f"/{git_dir.name}{rest}",
        REQUEST_METHOD=method,
        QUERY_STRING=query,
        CONTENT_TYPE=headers.get("content-type", ""),
        CONTENT_LENGTH=str(len(body)),
        REMOTE_USER="x-access-token",
        REMOTE_ADDR="127.0.0.1",
        GIT_PROTOCOL=headers.get("git-protocol", ""),
        HTTP_CONTENT_ENCODING=headers.get("content-encoding", ""),
    )
    if allow_filter:
        env.update(
            GIT_CONFIG_COUNT="2",
            GIT_CONFIG_KEY_0="uploadpack.allowFilter",
            GIT_CONFIG_VALUE_0="true",
            GIT_CONFIG_KEY_1="uploadpack.allowAnySHA1InWant",
            GIT_CONFIG_VALUE_1="true",
        )
    result = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=120, check=False)
    if result.returncode != 0 and not result.stdout:
        return 500, [("Content-Type", "text/plain")], result.stderr
    status, answer_headers, payload = _parse_cgi(result.stdout)
    answer_headers = [(n, v) for n, v in answer_headers if n.lower() != "content-length"]
    return status, [*answer_headers, ("Content-Length", str(len(payload)))], payload
