"""Serve the GitHub stand-in over HTTP/1.1: parse requests, render answers shaped on recordings.

Headers come from the recorded answer a kind of answer is modelled on (names, case, order);
Date, rate-limit, ETag, Link, Location, Retry-After and X-Poll-Interval values come from the
stand-in, and Content-Encoding / Transfer-Encoding / Content-Length are made true for the bytes sent.
"""

from __future__ import annotations

import contextlib
import gzip
import re
import secrets
import socket
import sys
import threading
import traceback
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

from tests.standin.git_repos import NOT_FOUND as GIT_NOT_FOUND
from tests.standin.git_repos import UNAUTHORIZED as GIT_UNAUTHORIZED
from tests.standin.git_repos import basic_password, run_http_backend
from tests.standin.model import Bucket, LoggedRequest
from tests.standin.routes import Answer, Request, respond
from tests.standin.shapes import RATE_HEADERS, HeaderList, encode_json, recorded_response

if TYPE_CHECKING:
    from tests.standin.server import GitHubStandIn

GIT_PATH = re.compile(r"^/(?P<owner>[^/]+)/(?P<name>[^/]+?)\.git(?P<rest>/.*)$")
# where a header the recording lacks goes: after the first of these that is present
ANCHORS = {
    "Link": ("X-GitHub-Media-Type", "ETag", "Cache-Control"),
    "ETag": ("Vary", "Cache-Control", "Content-Type"),
    "Last-Modified": ("ETag",),
    "X-Poll-Interval": ("Last-Modified", "ETag"),
    "Location": ("X-Accepted-OAuth-Scopes", "Content-Length", "Content-Type"),
    "Retry-After": ("Status", "Content-Type", "Date"),
}


def _rate_values(bucket: Bucket) -> dict[str, str]:
    values = (bucket.limit, bucket.remaining, bucket.reset, bucket.used, "core")
    return dict(zip(RATE_HEADERS, (str(v) for v in values), strict=True))


def render(answer: Answer, req: Request) -> tuple[list[tuple[str, str]], bytes, bool]:
    """Return the header list, body bytes and chunking of an answer, shaped on its recording."""
    headers = HeaderList(recorded_response(answer.template)["headers"])
    headers.remove("Connection", "Keep-Alive")
    for name, after in ANCHORS.items():
        if name in answer.headers:
            headers.set(name, answer.headers[name], after)
        else:
            headers.remove(name)
    headers.set("Date", formatdate(usegmt=True))
    if headers.get("Status") is not None:
        headers.set("Status", f"{answer.status} {HTTPStatus(answer.status).phrase}")
    if headers.get("X-GitHub-Request-Id") is not None:
        parts = (secrets.token_hex(n).upper() for n in (2, 3, 4, 4, 4))
        headers.set("X-GitHub-Request-Id", ":".join(parts))
    if headers.get("Cache-Control") is not None and answer.status < 400 and answer.template != "rate_limit":
        scope = "private" if answer.identity == "token" else "public"
        headers.set("Cache-Control", f"{scope}, max-age=60, s-maxage=60")
    if answer.identity != "token":
        headers.remove("github-authentication-token-expiration", "X-OAuth-Scopes", "X-Accepted-OAuth-Scopes")
    if answer.rate_headers and answer.bucket is not None:
        previous: tuple[str, ...] = ()
        for name, value in _rate_values(answer.bucket).items():
            headers.set(name, value, previous[::-1] or ("X-GitHub-Media-Type",))
            previous += (name,)
    else:
        headers.remove(*RATE_HEADERS)
    raw = answer.raw if answer.raw is not None else (b"" if answer.body is None else encode_json(answer.body))
    return _frame(headers, raw, answer.status, req)


def _frame(headers: HeaderList, raw: bytes, status: int, req: Request) -> tuple[list[tuple[str, str]], bytes, bool]:
    """Make Content-Encoding, Transfer-Encoding and Content-Length true for the bytes sent."""
    if status == 304:
        headers.remove("Content-Encoding", "Transfer-Encoding", "Content-Length", "Content-Type")
        return headers.items(), b"", False
    if raw and headers.get("Content-Type") is None:
        headers.set("Content-Type", "application/json; charset=utf-8", ("Date",))
    if raw and headers.get("Content-Encoding") == "gzip" and "gzip" in req.headers.get("accept-encoding", ""):
        raw = gzip.compress(raw)
    else:
        headers.remove("Content-Encoding")
    chunked = bool(raw) and (headers.get("Transfer-Encoding") or "").lower() == "chunked"
    if chunked:
        headers.remove("Content-Length")
    else:
        headers.remove("Transfer-Encoding")
        headers.set("Content-Length", str(len(raw)), ("Content-Type",))
    return headers.items(), raw, chunked


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep quiet: the stand-in's request log is the record."""

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _request(self) -> Request:
        prefix = self.server.standin.api_prefix
        split = urlsplit(self.path)
        path = split.path
        if prefix:
            path = path[len(prefix) :] if path.startswith(prefix + "/") else "/\0not-api"
        headers = {name.lower(): value for name, value in self.headers.items()}
        query = parse_qsl(split.query, keep_blank_values=True)
        return Request(
            self.command, split.path, path, query, split.query, headers, self._read_body(), self.client_address[0]
        )

    def _log(self, req: Request, status: int | None, charged: bool, fault: str | None = None) -> None:
        path = req.path if not req.path.startswith("/\0") else req.raw_path
        query = parse_qs(req.query_string, keep_blank_values=True)
        self.server.standin.record(LoggedRequest(req.method, path, query, dict(req.headers), status, charged, fault))

    def _handle(self) -> None:
        standin = self.server.standin
        try:
            req = self._request()
            git = GIT_PATH.match(req.raw_path)
            if git:
                status, pairs, raw = self._git(req, git)
                self._log(req, status, False)
                self._write(status, pairs, raw, False)
                return
            answer = respond(standin, req)
            self._log(
                req, None if answer.drop else answer.status, answer.charged and answer.status != 304, answer.fault
            )
            if answer.drop:
                self.close_connection = True
                return
            if answer.gate is not None:
                standin.wait_for(answer.gate, answer.delay)
            elif answer.delay:
                standin.stopping.wait(answer.delay)
            pairs, raw, chunked = render(answer, req)
            self._write(answer.status, pairs, raw, chunked)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            standin.errors.append(traceback.format_exc())
            self._write(500, [("Content-Type", "text/plain"), ("Content-Length", "15")], b"stand-in error\n", False)

    def _git(self, req: Request, match: re.Match[str]) -> tuple[int, list[tuple[str, str]], bytes]:
        standin = self.server.standin
        repo = standin.find_repo(match.group("owner"), match.group("name"))
        if repo is None or repo.git_dir is None:
            return GIT_NOT_FOUND
        anonymous_ok = standin.git_anonymous_public and not repo.private
        if not anonymous_ok and basic_password(req.headers.get("authorization")) != standin.token:
            return GIT_UNAUTHORIZED
        return run_http_backend(repo.git_dir, match.group("rest"), req.method, req.query_string, req.headers, req.body,
                                allow_filter=repo.allow_filter)  # fmt: skip

    def _write(self, status: int, pairs: list[tuple[str, str]], raw: bytes, chunked: bool) -> None:
        self.send_response_only(status, HTTPStatus(status).phrase)
        for name, value in pairs:
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD" or not raw:
            return
        if not chunked:
            self.wfile.write(raw)
            return
        for start in range(0, len(raw), 16384):
            chunk = raw[start : start + 16384]
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, standin: GitHubStandIn) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.standin = standin
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            (self._connections.add if alive else self._connections.discard)(connection)

    def close_connections(self) -> None:
        """Unblock handler threads waiting on idle keep-alive connections."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Record unexpected errors (the fixture fails the test on them); ignore hang-ups."""
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError, OSError)):
            self.standin.errors.append(traceback.format_exc())


def make_server(standin: GitHubStandIn) -> ThreadingHTTPServer:
    """Return a threading HTTP server bound to a free port of 127.0.0.1, not yet serving."""
    return _Server(standin)
