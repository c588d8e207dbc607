"""Secure defaults and failing dependencies: bounded refreshes, trusted proxy hops, Redis required when set."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.extensions import db
from infra.runtime import RedisUnreachable
from models import RefreshJob, utcnow
from tests.repo_helpers import add_project

ROOT = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    """Return a loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_failed_refresh_counts_for_the_cooldown(make_app: Any) -> None:
    app = make_app(REFRESH_COOLDOWN="300")
    with app.app_context():
        failed = RefreshJob(status="failed", scope="all", trigger="api", completed_at=utcnow(), error_message="x")
        db.session.add(failed)
        db.session.commit()
        failed_id = failed.id
    body = app.test_client().post("/api/refresh").get_json()
    assert (body["job_id"], body["outcome"], body["status"]) == (failed_id, "recent", "failed")
    assert body["message"] == "A refresh job failed moments ago"
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(RefreshJob)) == 1


@pytest.mark.parametrize(("hops", "expected"), [("0", "http://localhost/"), ("1", "https://portfolio.example/")])
def test_forwarded_headers_are_trusted_only_through_the_configured_hops(
    make_app: Any, hops: str, expected: str
) -> None:
    app = make_app(TRUSTED_PROXIES=hops)
    add_project(app, "octo-owner", "one")
    add_project(app, "octo-owner", "two")
    forwarded = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "portfolio.example",
        "X-Forwarded-For": "203.0.113.9",
    }
    answer = app.test_client().get("/api/repos?per_page=1", headers=forwarded)
    assert answer.headers["Link"].startswith(f"<{expected}api/repos?")


def test_redis_url_set_but_unreachable_refuses_to_start(config: dict[str, str]) -> None:
    from app import create_app

    url = f"redis://127.0.0.1:{closed_port()}/0"
    with pytest.raises(RedisUnreachable, match="REDIS_URL is set but Redis does not answer"):
        create_app({**config, "REDIS_URL": url})


def test_web_process_exits_with_a_clear_message_when_redis_is_unreachable(config: dict[str, str]) -> None:
    env = {**os.environ, **config, "REDIS_URL": f"redis://:hunter2secret@127.0.0.1:{closed_port()}/0"}
    done = subprocess.run([sys.executable, "-c", "import app; app.app"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1
    assert "project-tracker cannot start: REDIS_URL is set but Redis does not answer" in done.stderr
    assert "hunter2secret" not in done.stderr + done.stdout


def test_redis_down_degrades_health_and_refuses_refreshes_with_503(config: dict[str, str]) -> None:
    from app import create_app
    from tests.conftest import dispose_app
    from tests.servers import RedisServer

    server = RedisServer.start()  # a private server: stopping it disturbs no other test
    app = create_app({**config, "REDIS_URL": server.url()})
    try:
        client = app.test_client()
        assert client.get("/api/health").get_json()["status"] == "healthy"
        server.stop()
        health = client.get("/api/health")
        assert (health.status_code, health.get_json()["status"]) == (200, "degraded")
        assert health.get_json()["queue"]["error"].startswith("Redis unreachable")
        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        assert "project_tracker_redis_up 0.0" in metrics.get_data(as_text=True)
        refused = client.post("/api/refresh")
        assert (refused.status_code, refused.headers["Retry-After"]) == (503, "30")
        assert refused.get_json()["error"] == "Job queue unavailable (Redis): try again later"
        with app.app_context():
            assert db.session.scalar(db.select(db.func.count()).select_from(RefreshJob)) == 0
    finally:
        server.stop()
        dispose_app(app)


def test_anonymous_refreshes_and_costly_reads_are_rate_limited_per_client(make_app: Any) -> None:
    app = make_app(RATE_LIMIT_REFRESH="2 per hour", RATE_LIMIT_COSTLY="1 per hour", REFRESH_COOLDOWN="300")
    client = app.test_client()
    anonymous: dict[str, str] = {}
    assert [client.post("/api/refresh", headers=anonymous).status_code for _ in range(2)] == [202, 202]
    limited = client.post("/api/refresh", headers=anonymous)
    assert limited.status_code == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 3600
    assert limited.get_json()["code"] == "too_many_requests"
    assert client.post("/api/refresh").status_code == 202  # the admin token is not limited
    other = {"X-Forwarded-For": "203.0.113.7"}  # not trusted (TRUSTED_PROXIES=0): the same client
    assert client.post("/api/refresh", headers=other).status_code == 429
    assert client.get("/api/commits/top-contributors", headers=anonymous).status_code == 200
    assert client.get("/api/commits/top-contributors", headers=anonymous).status_code == 429
    assert [client.get("/api/events?page=1", headers=anonymous).status_code for _ in range(3)] == [200] * 3
    deep = [client.get("/api/events?page=30&per_page=50", headers=anonymous).status_code for _ in range(2)]
    assert deep == [200, 429]  # pages beyond the first 1000 events count
