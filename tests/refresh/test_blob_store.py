"""The loc_blobs store (refresh.blob_store.DbBlobStore) on both databases, past SQLite's chunk size."""

from __future__ import annotations

from typing import Any

import pytest

from analysis.counters import FileCount
from infra.extensions import db
from refresh.blob_store import SHA_CHUNK, DbBlobStore

pytestmark = pytest.mark.sqlite


def test_many_keys_read_back_exactly_what_was_stored(app: Any) -> None:
    count = SHA_CHUNK * 2 + 7
    stored: dict[tuple[str, str], FileCount | None] = {}
    for n in range(count):
        sha = f"{n:040x}"
        stored[(sha, "m.py")] = FileCount("Python", n, n % 3, n % 5) if n % 4 else None
        if n % 10 == 0:
            stored[(sha, "m.c")] = FileCount("C", n + 1, 0, 0)  # same content, another name
    with app.app_context():
        store = DbBlobStore(db.engine)
        store.put_many(stored)
        wanted = [(f"{n:040x}", "m.py") for n in range(count)]
        unknown = [(f"{count + n:040x}", "m.py") for n in range(3)] + [(f"{1:040x}", "m.rb")]
        found = store.get_many(wanted + unknown)
        assert found == {key: stored[key] for key in wanted}
        assert store.get_many([]) == {}
        assert store.get_many([(f"{10:040x}", "m.c")]) == {(f"{10:040x}", "m.c"): FileCount("C", 11, 0, 0)}
        odd = ("NOT,HEX'", "m.py")  # not a sha git prints: asked as an array, not one joined string
        store.put_many({odd: FileCount("Python", 5, 0, 0)})
        assert store.get_many([odd, wanted[1]]) == {odd: FileCount("Python", 5, 0, 0), wanted[1]: stored[wanted[1]]}
