"""Store per-blob line counts in the database (`loc_blobs`), shared by every worker."""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, Connection, Engine, String, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from analysis.counters import FileCount
from infra.extensions import upsert_ignore
from models import LocBlob

CHUNK = 400
HEX_LIST = re.compile(r"[0-9a-f]+(?:,[0-9a-f]+)*")
SHA_CHUNK = 900  # under SQLite's oldest bound-parameter limit (999)


class DbBlobStore:
    """A BlobCountStore on the `loc_blobs` table; uses its own connections, so it is thread-safe.

    With `deferred=True` new counts are kept in memory until `flush(connection)` writes them in
    the caller's transaction (a counting thread must not write beside that transaction: on
    SQLite it would wait for the caller's lock forever).
    """

    def __init__(self, engine: Engine, *, deferred: bool = False) -> None:
        self.engine = engine
        self.deferred = deferred
        self.pending: dict[tuple[str, str], FileCount | None] = {}

    def get_many(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], FileCount | None]:
        # One indexed IN on the blob sha (the primary key's first column) per chunk is far cheaper
        # than a row-value IN; rows of other language keys are dropped here.
        wanted = set(keys)
        shas = sorted({sha for sha, _ in wanted})
        found: dict[tuple[str, str], FileCount | None] = {}
        table = LocBlob.__table__
        columns = (table.c.blob_sha, table.c.lang_key, table.c.language, table.c.code, table.c.comment, table.c.blank)
        with self.engine.connect() as conn:
            for part in self._parts(shas):
                for sha, lang_key, language, code, comment, blank in conn.execute(select(*columns).where(part)).all():
                    if (sha, lang_key) in wanted:
                        found[sha, lang_key] = None if language is None else FileCount(language, code, comment, blank)
        return found

    def _parts(self, shas: list[str]) -> list[ColumnElement[bool]]:
        """Return conditions covering the shas: one array parameter on PostgreSQL, chunks of IN on SQLite."""
        column = LocBlob.__table__.c.blob_sha
        if self.engine.dialect.name == "postgresql":
            # One parameter for any number of shas: no statement of thousands of placeholders to
            # build, and as one string no array for the driver to quote element by element.
            joined = ",".join(shas)
            if HEX_LIST.fullmatch(joined):
                return [column == any_(func.string_to_array(bindparam("shas", joined), ","))] if shas else []
            return [column == any_(bindparam("shas", shas, type_=ARRAY(String)))] if shas else []
        return [column.in_(shas[start : start + SHA_CHUNK]) for start in range(0, len(shas), SHA_CHUNK)]

    def put_many(self, items: dict[tuple[str, str], FileCount | None]) -> None:
        if self.deferred:
            self.pending.update(items)
            return
        with self.engine.begin() as conn:
            self._write(conn, items)

    def flush(self, conn: Connection) -> None:
        """Write the deferred counts with the caller's connection."""
        self._write(conn, self.pending)
        self.pending = {}

    def _write(self, conn: Connection, items: dict[tuple[str, str], FileCount | None]) -> None:
        rows = [
            {
                "blob_sha": blob,
                "lang_key": key,
                "language": count.language if count else None,
                "code": count.code if count else 0,
                "comment": count.comment if count else 0,
                "blank": count.blank if count else 0,
            }
            for (blob, key), count in items.items()
        ]
        if not rows:
            return
        statement = upsert_ignore(self.engine.dialect.name, LocBlob.__table__, ["blob_sha", "lang_key"])
        for start in range(0, len(rows), CHUNK):
            conn.execute(statement, rows[start : start + CHUNK])
