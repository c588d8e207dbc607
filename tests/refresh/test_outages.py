"""Failing dependencies during a refresh: PostgreSQL restarted mid-refresh, the disk filling up during a clone.

Each test runs the real component: a PostgreSQL server of its own (stopped and started again while
a refresh waits at a known point, a GitHub answer the test holds), and real git clones under a
file-size limit (RLIMIT_FSIZE, what CACHE_MAX_GB sets on every git child: a write past it fails as
a full disk would).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from jobs import DATABASE_LOST
from tests.conftest import TEST_ADMIN_TOKEN, build_app, dispose_app, migrate, wait_for
from tests.refresh.test_refresh import publish_simple
from tests.refresh_helpers import projects_by_name, refresh, wait_for_job
from tests.servers import PostgresServer
from tests.standin.faults import hold
from tests.standin.server import GitHubStandIn

AS_ADMIN = {"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"}


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for this test alone: stopping it leaves every other test's server running."""
    server = PostgresServer.start()
    yield server
    server.stop()


def stored(client: Any) -> dict[str, tuple[int, int, str | None]]:
    """Return each project's (commits, LOC, last commit) as the API shows them."""
    return {n: (p["commits"], p["loc"], p["last_commit_date"]) for n, p in projects_by_name(client).items()}


@pytest.mark.slow
def test_postgresql_restarted_mid_refresh_fails_the_repository_cleanly_and_the_service_recovers(
    own_postgres: PostgresServer, config: dict[str, str], github: GitHubStandIn, make_repo: Any, tmp_path: Path
) -> None:
    url = own_postgres.create_database("tracker_outage")
    migrate(url, tmp_path / "migrate")
    # The held answer must outlast the outage without the client giving up on it.
    app = build_app({**config, "DATABASE_URL": url, "GITHUB_READ_TIMEOUT": "600"})
    try:
        client = app.test_client()
        steady, held = publish_simple(make_repo, "steady"), publish_simple(make_repo, "held")
        github.add_repo("steady", clone_url=steady.publish(), languages={"Python": 10})
        github.add_repo("held", clone_url=held.publish(), languages={"Python": 10})
        assert refresh(client)["status"] == "completed"
        before = stored(client)
        # 3 commits each, main.py of 3 lines, last commit 2024-06-03
        assert before == {"held": (3, 3, "2024-06-03T12:00:00Z"), "steady": (3, 3, "2024-06-03T12:00:00Z")}

        held.write("main.py", "".join(f"x{j} = {j}\n" for j in range(4)))
        held.commit("step 3", at=datetime(2024, 6, 4, 12, 0, tzinfo=UTC))
        held.publish()
        gate = threading.Event()
        languages = "/repos/octo-owner/held/languages"
        github.inject(languages, hold(gate))
        held_id = next(r["id"] for r in client.get("/api/repos", headers=AS_ADMIN).get_json()["items"]
                       if r["repo_name"] == "held")  # fmt: skip
        started = client.post(f"/api/repos/{held_id}/refresh")
        assert started.status_code == 202, started.get_json()
        job_id = started.get_json()["job_id"]
        # The refresh has read the repository's metadata and waits for its languages: stop PostgreSQL now.
        wait_for(lambda: any(c.fault for c in github.calls(languages)), timeout=120, message="the held answer")
        own_postgres.halt()
        own_postgres.resume()
        gate.set()

        job = wait_for_job(client, job_id, timeout=180)
        assert (job["status"], job["repositories_processed"], job["repositories_failed"]) == ("completed", 1, 1)
        assert job["errors"] == [{"repository": "octo-owner/held", "error": DATABASE_LOST, "status": "failed"}]
        repo = client.get(f"/api/repos/{held_id}", headers=AS_ADMIN).get_json()
        assert repo["last_error"] == DATABASE_LOST
        # Nothing of the interrupted refresh was written: the stored figures are the previous ones.
        assert stored(client) == before
        listed = client.get("/api/refresh/jobs", headers=AS_ADMIN).get_json()
        for body in (json.dumps(job), json.dumps(listed), json.dumps(repo)):
            assert "Traceback" not in body and "psycopg" not in body and github.token not in body

        # The service answers on fresh connections, and the next refresh stores the new commit.
        health = client.get("/api/health")
        assert (health.status_code, health.get_json()["database"]) == (200, "ok")
        assert refresh(client, query="?force=1")["status"] == "completed"
        assert stored(client) == {**before, "held": (4, 4, "2024-06-04T12:00:00Z")}
        assert client.get(f"/api/repos/{held_id}", headers=AS_ADMIN).get_json()["last_error"] is None
    finally:
        dispose_app(app)


def incompressible(size: int, seed: int) -> bytes:
    """Return `size` bytes git cannot compress (a deterministic stream of SHA-256 digests)."""
    import hashlib

    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def test_disk_full_during_a_clone_fails_that_repository_cleanly(
    make_app: Any, github: GitHubStandIn, make_repo: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "small-cache"
    # CACHE_MAX_GB of 256 KiB: git's children may not write a file larger (RLIMIT_FSIZE), as a full disk.
    app = make_app(CACHE_DIR=str(cache), CACHE_MAX_GB=str(256 * 1024 / 1024**3))
    client = app.test_client()
    small = publish_simple(make_repo, "small")
    bulky = make_repo("bulky")
    bulky.write("data.bin", incompressible(1024 * 1024, 1))  # a 1 MiB pack: over the limit
    bulky.write("main.py", "a = 1\n")
    bulky.commit("add data", at=datetime(2024, 6, 1, 12, 0, tzinfo=UTC))
    # GitHub's `size` says 1 KB (it lags behind pushes), so the clone is tried and the disk fills.
    github.add_repo("bulky", clone_url=bulky.publish(), languages={"Python": 10}, size=1)
    github.add_repo("small", clone_url=small.publish(), languages={"Python": 10}, size=1)

    with caplog.at_level(logging.INFO):
        job = refresh(client, timeout=120)
    assert (job["status"], job["repositories_processed"], job["repositories_failed"]) == ("completed", 2, 1)
    assert [(e["repository"], e["status"]) for e in job["errors"]] == [("octo-owner/bulky", "failed")]
    error = job["errors"][0]["error"]
    assert error.startswith("Out of disk space while cloning into the mirror cache"), error
    # The other repository refreshed; the failed one keeps no figures and no partial mirror.
    assert stored(client)["small"] == (3, 3, "2024-06-03T12:00:00Z")
    assert stored(client)["bulky"][0] == 0
    assert sorted(p.name for p in (cache / "mirrors").iterdir()) == [f"gh-{github.repo('small').id}.git"]
    leftovers = [p for p in (cache / "tmp").rglob("*")] if (cache / "tmp").exists() else []
    assert [p for p in leftovers if p.is_file()] == []
    everything = json.dumps(job) + json.dumps(client.get("/api/repos", headers=AS_ADMIN).get_json()) + caplog.text
    assert github.token not in everything

    # With room again (a bigger cap), the next refresh clones it.
    roomy = make_app(CACHE_DIR=str(cache), CACHE_MAX_GB="1")
    again = refresh(roomy.test_client(), timeout=120, query="?force=1")
    assert (again["status"], again["repositories_failed"]) == ("completed", 0)
    assert stored(roomy.test_client())["bulky"] == (1, 1, "2024-06-01T12:00:00Z")
