"""HTTP caching of JSON reads: strong ETags, 304s, Cache-Control by reader, compression.

Every successful GET of a JSON route gets a strong ETag (a hash of its body, or the one a view set
from a cached body), `Cache-Control` and `Vary`, is compressed by Flask-Compress when the client
accepts it (the compressed representation gets its own strong ETag, `"tag:gzip"`, and is compressed
once per ETag), and becomes a bodiless 304 when `If-None-Match` names its ETag (weak comparison,
lists and `*`, RFC 9110 §13.1.2). Public reads are `public, max-age, stale-while-revalidate`;
admin-only routes and any request carrying a bearer token are `private, no-store`.

`cached_json` keeps a body built once per data version and reader class (anonymous or admin), so
a read whose data did not change costs no ORM loading, validation or JSON encoding. The data
version itself is asked of the database at most once per `HTTP_VERSION_TTL` seconds per process,
and at once after any commit made by this process (an engine-wide `commit` event), so a write
through this process shows in the next read and a write by a worker within the TTL.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apiflask import APIFlask
from flask import Flask, Response, current_app, g, request
from flask_compress import Compress
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.http import parse_etags

from api.auth import is_admin
from api.docs import add_spec_processor
from infra.admin import presented_token
from infra.runtime import current_settings

EXTENSION_KEY = "http_cache"
PRIVATE = "private, no-store"
# Headers a 304 carries over from the 200 it stands for (RFC 9110 §15.4.5).
NOT_MODIFIED_HEADERS = ("ETag", "Cache-Control", "Vary", "Expires", "Content-Location", "Date")
COMPRESSED_COPIES = 64


_commits = 0  # commits made by this process, on any engine


def _count_commit(_connection: Any) -> None:
    global _commits
    _commits += 1


@dataclass
class Version:
    value: str
    asked_at: float
    commits: int


@dataclass
class CacheState:
    """Per-app cached bodies by (name, reader) and data versions by version function."""

    bodies: dict[tuple[str, str], tuple[str, bytes, str]] = field(default_factory=dict)
    versions: dict[Callable[[], str], Version] = field(default_factory=dict)


class CompressedBodies:
    """Flask-Compress cache backend: the last compressed bodies by `encoding;etag`, bounded."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def set(self, key: str, value: bytes) -> None:
        if key.endswith(";"):  # no ETag: a body that is not a cacheable read, never stored
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > COMPRESSED_COPIES:
                self._items.popitem(last=False)


def _compression_key(_request: Any) -> str:
    return str(g.get("body_etag", ""))


def strong_etag(body: bytes) -> str:
    """Return the opaque tag of a body: 32 hex digits of its BLAKE2b hash."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def reader_class() -> str:
    """Name who reads: `admin` (visibility of an admin) or `anonymous`; cached bodies never mix."""
    return "admin" if is_admin() else "anonymous"


def is_private() -> bool:
    """Tell whether this response must stay out of shared caches: admin route or a bearer token."""
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "_admin_required", False)) or presented_token() is not None


def current_version(state: CacheState, version_of: Callable[[], str]) -> str:
    """Return the data version, asked again after HTTP_VERSION_TTL or any commit of this process."""
    known = state.versions.get(version_of)
    now = time.monotonic()
    if known is not None and known.commits == _commits and now - known.asked_at < current_settings().http_version_ttl:
        return known.value
    commits = _commits  # read before asking: a commit during the query makes the next read ask again
    value = version_of()
    state.versions[version_of] = Version(value, now, commits)
    return value


def cached_json(name: str, version_of: Callable[[], str], build: Callable[[], bytes]) -> Response:
    """Answer with the JSON body `build` makes, rebuilt only when the data version or the reader changes."""
    state: CacheState = current_app.extensions[EXTENSION_KEY]
    version = current_version(state, version_of)
    key = (name, reader_class())
    entry = state.bodies.get(key)
    if entry is None or entry[0] != version:
        body = build()
        entry = (version, body, strong_etag(body))
        state.bodies[key] = entry
    response = Response(entry[1], mimetype="application/json")
    response.set_etag(entry[2])
    return response


def _is_json_read(response: Response) -> bool:
    return (
        request.method in ("GET", "HEAD")
        and response.status_code == 200
        and response.mimetype == "application/json"
        and not response.is_streamed
    )


def add_validators(response: Response) -> Response:
    """Give a JSON read its strong ETag, Cache-Control and Vary (before compression)."""
    if not _is_json_read(response):
        return response
    etag, weak = response.get_etag()
    if not etag or weak:
        etag = strong_etag(response.get_data())
        response.set_etag(etag)
    g.body_etag = etag
    if is_private():
        response.headers["Cache-Control"] = PRIVATE
    else:
        settings = current_settings()
        response.headers["Cache-Control"] = (
            f"public, max-age={settings.http_max_age}, stale-while-revalidate={settings.http_stale_while_revalidate}"
        )
    response.vary.add("Authorization")
    response.vary.add("Accept-Encoding")
    return response


def answer_conditional(response: Response) -> Response:
    """Turn a JSON read into a bodiless 304 when If-None-Match names its ETag (after compression)."""
    header = request.headers.get("If-None-Match")
    if not header or not _is_json_read(response):
        return response
    etag, _ = response.get_etag()
    if not etag:
        return response
    candidates = parse_etags(header)
    if not (candidates.star_tag or candidates.contains_weak(etag)):
        return response
    not_modified = Response(status=304)
    for name in NOT_MODIFIED_HEADERS:
        if name in response.headers:
            not_modified.headers[name] = response.headers[name]
    return not_modified


def document_caching(spec: dict[str, Any]) -> dict[str, Any]:
    """Add the 304 answer and the caching headers to every GET operation that returns JSON."""
    headers = {
        "ETag": {"description": "Strong validator of this representation.", "schema": {"type": "string"}},
        "Cache-Control": {
            "description": "`public, max-age=…, stale-while-revalidate=…`; `private, no-store` for admin reads.",
            "schema": {"type": "string"},
        },
    }
    for operations in spec.get("paths", {}).values():
        operation = operations.get("get")
        ok = (operation or {}).get("responses", {}).get("200", {})
        if "application/json" not in ok.get("content", {}):
            continue
        ok.setdefault("headers", {}).update(headers)
        operation["responses"]["304"] = {
            "description": "Not Modified: `If-None-Match` names the current ETag (or `*`). No body.",
            "headers": headers,
        }
    return spec


def init_app(app: Flask) -> None:
    """Install validators, compression and conditional answers, in that order of running."""
    app.extensions[EXTENSION_KEY] = CacheState()
    if not event.contains(Engine, "commit", _count_commit):
        event.listen(Engine, "commit", _count_commit)
    # after_request functions run in reverse order of registration.
    app.after_request(answer_conditional)
    app.config.update(
        COMPRESS_CACHE_BACKEND=CompressedBodies,
        COMPRESS_CACHE_KEY=_compression_key,
        COMPRESS_EVALUATE_CONDITIONAL_REQUEST=False,  # answer_conditional does it for every JSON read
    )
    Compress(app)
    app.after_request(add_validators)
    if isinstance(app, APIFlask):
        add_spec_processor(app, document_caching)
