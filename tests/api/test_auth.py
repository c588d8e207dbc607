"""Every write route needs the admin token when ADMIN_TOKEN is set; POST /api/refresh stays public, coalesced.

The route list comes from the app's URL map, so a write route added without protection fails here.
"""

from __future__ import annotations

import logging
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for

ADMIN = "s3cret-admin-token"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# The only write a caller without the token may make: the portfolio site's refresh button.
PUBLIC_WRITES = {("POST", "/api/refresh")}
# Writes authenticated otherwise: GitHub signs webhook deliveries with WEBHOOK_SECRET (tests/api/test_webhooks.py).
SIGNED_WRITES = {("POST", "/api/webhooks/github")}
CHALLENGE = 'Bearer realm="project-tracker"'
UNAUTHORIZED = {"error": "Missing or invalid admin token", "code": "unauthorized", "details": []}
WRONG_CREDENTIALS = [
    {},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": f"Bearer {ADMIN}x"},
    {"Authorization": f"Bearer {ADMIN[:-1]}"},
    {"Authorization": f"Token {ADMIN}"},
    {"Authorization": f"Basic {ADMIN}"},
    {"Authorization": "Bearer "},
    {"Authorization": "Bearer ünïcödé"},
    {"X-Admin-Token": ADMIN},
]


@pytest.fixture
def config(config: dict[str, str]) -> dict[str, str]:
    return {**config, "ADMIN_TOKEN": ADMIN, "REFRESH_COOLDOWN": "300"}


def write_routes(app: Any) -> list[tuple[str, str]]:
    """Return (METHOD, URL) for every write route, with sample values for its parameters."""
    routes = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & WRITE_METHODS):
            url = re.sub(r"<int:[a-z_]+>", "987654", rule.rule)
            url = re.sub(r"<(?:[a-z]+:)?[a-z_]+>", "sample", url)
            routes.append((method, url))
    return sorted(routes)


def test_the_route_list_is_not_empty(app: Any) -> None:
    routes = write_routes(app)
    assert ("POST", "/api/repos") in routes
    assert ("DELETE", "/api/repos/987654") in routes
    assert ("POST", "/api/refresh") in routes


def test_every_write_route_needs_the_admin_token(client: Any, app: Any) -> None:
    checked = []
    for method, url in write_routes(app):
        if (method, url) in PUBLIC_WRITES | SIGNED_WRITES:
            continue
        for headers in WRONG_CREDENTIALS:
            response = client.open(url, method=method, json={}, headers=headers)
            assert response.status_code == 401, (method, url, headers)
            assert response.headers["WWW-Authenticate"] == CHALLENGE
            assert response.get_json() == UNAUTHORIZED
            assert ADMIN not in response.get_data(as_text=True)
        right = client.open(url, method=method, json={}, headers={"Authorization": f"Bearer {ADMIN}"})
        assert right.status_code != 401, (method, url)
        assert right.status_code < 500, (method, url, right.get_json())
        checked.append((method, url))
    assert len(checked) >= 6


def test_the_token_is_checked_before_the_body(client: Any) -> None:
    response = client.post("/api/repos", data="{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    response = client.patch("/api/repos/1", json={"stars": 3})
    assert response.status_code == 401


def test_forced_refresh_needs_the_token_and_plain_refresh_does_not(client: Any) -> None:
    for headers in WRONG_CREDENTIALS:
        forced = client.post("/api/refresh?force=1", headers=headers)
        assert forced.status_code == 401
        assert forced.headers["WWW-Authenticate"] == CHALLENGE
    plain = client.post("/api/refresh")
    assert plain.status_code == 202
    assert plain.get_json()["outcome"] == "started"


def test_public_refresh_coalesces_with_running_and_recent_jobs(client: Any) -> None:
    first = client.post("/api/refresh").get_json()
    second = client.post("/api/refresh").get_json()
    assert second["job_id"] == first["job_id"]
    assert second["outcome"] in ("running", "recent")
    wait_for(lambda: client.get(f"/api/refresh/status/{first['job_id']}").get_json()["status"] == "completed")
    recent = client.post("/api/refresh")
    assert recent.status_code == 202
    assert recent.get_json() == {
        "message": "A refresh job completed moments ago",
        "job_id": first["job_id"],
        "status": "completed",
        "check_status_url": f"/api/refresh/status/{first['job_id']}",
        "outcome": "recent",
    }
    forced = client.post("/api/refresh?force=1", headers={"Authorization": f"Bearer {ADMIN}"})
    assert forced.status_code == 202
    assert forced.get_json()["outcome"] == "started"
    assert forced.get_json()["job_id"] != first["job_id"]


def test_reads_stay_public(client: Any) -> None:
    for path in ("/api/repos", "/api/projects", "/api/refresh/jobs", "/openapi.json"):
        assert client.get(path).status_code == 200, path


def test_openapi_marks_every_protected_route(client: Any, app: Any) -> None:
    spec = client.get("/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["AdminToken"] == {"type": "http", "scheme": "bearer"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if (method.upper(), path) in SIGNED_WRITES:
                assert operation.get("security") == [{"WebhookSignature": []}], (method, path)
                assert "401" in operation["responses"], (method, path)
            elif (method.upper(), path) in PUBLIC_WRITES:  # anonymous allowed; the token lifts the cooldown
                assert operation.get("security") == [{}, {"AdminToken": []}], (method, path)
                assert "401" in operation["responses"], (method, path)
            elif method.upper() in WRITE_METHODS:
                assert operation.get("security") == [{"AdminToken": []}], (method, path)
                assert "401" in operation["responses"], (method, path)


def test_without_admin_token_one_is_generated_kept_private_and_reused(
    config: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    from tests.conftest import build_app, dispose_app

    caplog.set_level(logging.WARNING, logger="app")
    unset = {k: v for k, v in config.items() if k != "ADMIN_TOKEN"}
    first = build_app(unset)
    try:
        path = Path(config["INSTANCE_PATH"]) / "admin_token"
        token = path.read_text().strip()
        assert (len(token) >= 40, stat.S_IMODE(path.stat().st_mode)) == (True, 0o600)
        warnings = [r.getMessage() for r in caplog.records if r.name == "app"]
        expected = f"ADMIN_TOKEN is not set: using the generated admin token stored in {path} (writes need it)"
        assert warnings == [expected]
        assert token not in caplog.text
        client = first.test_client()
        assert client.patch("/api/repos/987654", json={}, headers={}).status_code == 401
        authorized = {"Authorization": f"Bearer {token}"}
        assert client.patch("/api/repos/987654", json={}, headers=authorized).status_code == 404
        second = build_app(unset)  # a later start (or another gunicorn worker) reuses the same token
        try:
            answer = second.test_client().patch("/api/repos/987654", json={}, headers=authorized)
            assert answer.status_code == 404
        finally:
            dispose_app(second)
    finally:
        dispose_app(first)
