"""Remember GitHub answers with their validators so repeated GETs become free 304s.

GitHub: "Most responses return an etag header. Many responses also return a last-modified header.
You can use the values of these headers to make subsequent requests to those resources using the
if-none-match and if-modified-since headers, respectively. If the resource has not changed, you
will get a 304 Not Modified response" that does not count against the primary rate limit
(https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#use-conditional-requests-if-appropriate).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from sqlalchemy import Engine, Table, delete, func, or_, select

from infra.extensions import conflict_insert, db
from models import HttpCacheEntry

KEY_MAX = 700  # HttpCacheEntry.key is String(700)


@dataclass(frozen=True)
class CacheEntry:
    """The last 200 answer of one URL: validators, parsed body and raw `Link` header."""

    etag: str | None
    last_modified: str | None
    body: Any
    link: str | None
    fetched_at: datetime


class ConditionalCache(Protocol):
    """Store of the last 200 answer per cache key."""

    def get(self, key: str) -> CacheEntry | None:
        """Return the entry stored under `key`, if any."""
        ...

    def put(self, key: str, entry: CacheEntry) -> None:
        """Store (or replace) the entry under `key`."""
        ...


def token_fingerprint(token: str | None) -> str:
    """Return a short, irreversible tag of a token (answers differ per token, Vary: Authorization)."""
    if not token:
        return "anonymous"
    return "t" + hashlib.sha256(token.encode()).hexdigest()[:16]


def cache_key(token: str | None, url: str) -> str:
    """Return the cache key of a URL fetched with a token; the token itself never appears in it."""
    key = f"{token_fingerprint(token)} {url}"
    if len(key) <= KEY_MAX:
        return key
    return f"{token_fingerprint(token)} sha256:{hashlib.sha256(url.encode()).hexdigest()}"


class MemoryConditionalCache:
    """Keep entries in this process (tests, one-off scripts)."""

    def __init__(self) -> None:
        self._entries: dict[str, CacheEntry] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> CacheEntry | None:
        """Return the entry stored under `key`, if any."""
        with self._lock:
            return self._entries.get(key)

    def put(self, key: str, entry: CacheEntry) -> None:
        """Store (or replace) the entry under `key`."""
        with self._lock:
            self._entries[key] = entry

    def keys(self) -> list[str]:
        """Return every stored key (for assertions)."""
        with self._lock:
            return list(self._entries)


class DbConditionalCache:
    """Keep entries in the `http_cache` table, shared by every process of the service.

    Each write is its own short transaction on the engine, never the caller's session, so caching
    an answer can neither commit nor roll back the work of the job that asked for it.
    """

    def __init__(self, engine: Engine | None = None) -> None:
        self._engine_override = engine

    @property
    def engine(self) -> Engine:
        """Return the engine given, else Flask-SQLAlchemy's (needs an app context)."""
        return self._engine_override if self._engine_override is not None else db.engine

    @staticmethod
    def _table() -> Table:
        return cast(Table, HttpCacheEntry.__table__)

    def get(self, key: str) -> CacheEntry | None:
        """Return the entry stored under `key`, if any."""
        table = self._table()
        query = select(table.c.etag, table.c.last_modified, table.c.body, table.c.link, table.c.fetched_at)
        with self.engine.connect() as conn:
            row = conn.execute(query.where(table.c.key == key)).first()
        if row is None:
            return None
        return CacheEntry(row.etag, row.last_modified, row.body, row.link, row.fetched_at)

    def put(self, key: str, entry: CacheEntry) -> None:
        """Store (or replace) the entry under `key` with an upsert in its own transaction."""
        table = self._table()
        values = {
            "key": key,
            "etag": entry.etag,
            "last_modified": entry.last_modified,
            "body": entry.body,
            "link": entry.link,
            "fetched_at": entry.fetched_at.astimezone(UTC),
        }
        with self.engine.begin() as conn:
            stmt = conflict_insert(conn.dialect.name, table).values(values)
            updates = {name: stmt.excluded[name] for name in values if name != "key"}
            conn.execute(stmt.on_conflict_do_update(index_elements=[table.c.key], set_=updates))


def _like_escape(text: str) -> str:
    """Escape LIKE's wildcards (and the escape character) in a literal."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def repository_key_patterns(owner: str, name: str, github_id: int | None) -> list[str]:
    """Return lowercase LIKE patterns matching every cache key of one repository's resources.

    Keys are "<token fingerprint> <url>"; a repository's URLs are …/repos/<owner>/<name>[/…|?…]
    and …/repositories/<id>[/…|?…]. (Keys of URLs too long to keep are hashes and age out.)
    """
    bases = [f"/repos/{_like_escape(owner.lower())}/{_like_escape(name.lower())}"]
    if github_id:
        bases.append(f"/repositories/{int(github_id)}")
    return [f"% %{base}{tail}" for base in bases for tail in ("", "/%", "?%")]


def prune_repository(owner: str, name: str, github_id: int | None) -> int:
    """Delete the cached answers about one repository in the session's transaction; return how many."""
    key = func.lower(HttpCacheEntry.key)
    patterns = repository_key_patterns(owner, name, github_id)
    where = or_(*(key.like(pattern, escape="\\") for pattern in patterns))
    result = db.session.execute(delete(HttpCacheEntry).where(where))
    return result.rowcount or 0


def prune_url_suffix(suffix: str) -> int:
    """Delete the cached answers of every URL ending in `suffix` (any token, any case); return how many."""
    pattern = f"% %{_like_escape(suffix.lower())}"
    result = db.session.execute(delete(HttpCacheEntry).where(func.lower(HttpCacheEntry.key).like(pattern, escape="\\")))
    return result.rowcount or 0
