"""Seed-004 contract: /api/projects, /api/project/<name>, /api/metrics, field by field."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.repo_helpers import add_project

pytestmark = pytest.mark.sqlite

SEED_004_FIELDS = {
    "name": str,
    "time_spent": str,
    "loc": int,
    "commits": int,
    "active_days": int,
    "code_churn": int,
    "last_finished": str,
    "primary_language": str,
    "repository_size_kb": str,
}


@pytest.fixture
def portfolio(app: Any) -> dict[str, int]:
    return {
        "tracker": add_project(
            app, "octo-owner", "tracker", time_spent_min=4321.6, loc=1500, commit_count=42, active_days=9,
            code_churn=8800, last_commit_date=datetime(2024, 5, 6, 19, 8, 9, tzinfo=UTC),
            primary_language="Python", size_kb=123.45, stars=7, loc_by_language={"Python": 1400, "Shell": 100},
        ),
        "empty": add_project(app, "octo-owner", "empty"),
        "secret": add_project(app, "octo-owner", "secret", hidden=True, loc=99),
    }  # fmt: skip


def test_projects_list_has_seed_004_fields_and_formats(client: Any, portfolio: dict[str, int]) -> None:
    response = client.get("/api/projects")
    assert response.status_code == 200
    body = response.get_json()
    assert [p["name"] for p in body] == ["tracker", "empty"]  # hidden left out, latest work first
    tracker, empty = body
    for project in body:
        for field, kind in SEED_004_FIELDS.items():
            assert isinstance(project[field], kind), field
    assert {k: tracker[k] for k in SEED_004_FIELDS} == {
        "name": "tracker",
        "time_spent": "4322m",
        "loc": 1500,
        "commits": 42,
        "active_days": 9,
        "code_churn": 8800,
        "last_finished": "05/06/2024, 07:08:09 PM",
        "primary_language": "Python",
        "repository_size_kb": "123.5",
    }
    assert {k: empty[k] for k in SEED_004_FIELDS} == {
        "name": "empty",
        "time_spent": "0m",
        "loc": 0,
        "commits": 0,
        "active_days": 0,
        "code_churn": 0,
        "last_finished": "Never",
        "primary_language": "Unknown",
        "repository_size_kb": "0.0",
    }
    assert tracker["full_name"] == "octo-owner/tracker"
    assert tracker["loc_by_language"] == {"Python": 1400, "Shell": 100}
    assert tracker["last_commit_date"] == "2024-05-06T19:08:09Z"


def test_project_by_name_and_by_owner_name(client: Any, portfolio: dict[str, int], app: Any) -> None:
    assert client.get("/api/project/tracker").get_json()["id"] == portfolio["tracker"]
    assert client.get("/api/project/TRACKER").get_json()["id"] == portfolio["tracker"]
    add_project(app, "someone-else", "tracker")
    ambiguous = client.get("/api/project/tracker")
    assert ambiguous.status_code == 409
    assert ambiguous.get_json()["code"] == "ambiguous_name"
    assert [d["message"] for d in ambiguous.get_json()["details"]] == ["octo-owner/tracker", "someone-else/tracker"]
    assert client.get("/api/project/octo-owner/tracker").get_json()["id"] == portfolio["tracker"]


@pytest.mark.parametrize("name", ["nope", "secret", "octo-owner/nope", "a/b/c"])
def test_unknown_or_hidden_project_is_404_with_seed_body(client: Any, portfolio: dict[str, int], name: str) -> None:
    response = client.get(f"/api/project/{name}")
    assert response.status_code == 404
    body = response.get_json()
    assert body["error"] == "Project not found"
    assert body["code"] == "not_found"
    assert body["details"] == []


def test_metrics_rollup_over_visible_projects(client: Any, portfolio: dict[str, int]) -> None:
    body = client.get("/api/metrics").get_json()
    assert body["total_projects"] == 2
    assert body["total_loc"] == 1500
    assert body["total_time_spent_minutes"] == 4321.6
    assert body["total_time_spent_hours"] == 72.0
    assert body["average_project_size_kb"] == 61.7
    assert body["project_with_most_loc"] == {"name": "tracker", "loc": 1500}
    assert body["most_common_language"] == {"language": "Python", "project_count": 1, "percentage": 50.0}
    assert body["languages_breakdown"]["Unknown"] == {
        "project_count": 1,
        "total_loc": 0,
        "percentage_of_projects": 50.0,
    }


def test_metrics_with_no_projects_keeps_shape(client: Any) -> None:
    body = client.get("/api/metrics").get_json()
    assert body["total_projects"] == 0
    assert body["project_with_most_loc"] is None
    assert body["most_common_language"] is None
    assert body["averages"]["loc_per_project"] == 0.0


def test_index_lists_every_route(client: Any, app: Any) -> None:
    body = client.get("/").get_json()
    assert body["message"] == "Project Tracker Backend API"
    assert body["redis_available"] is False
    assert body["dashboard"] == "/dashboard"
    assert body["endpoints"]["GET /api/projects"] == "List every visible project with its metrics."
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/docs", "/openapi", "/static")):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert f"{method} {rule.rule}" in body["endpoints"]


def test_health(client: Any) -> None:
    body = client.get("/api/health").get_json()
    assert body["status"] == "healthy"
    assert body["database"] == "ok"
    assert body["queue"]["mode"] == "embedded"
    assert body["github"]["token_configured"] is True


def test_unknown_route_and_method_are_json(client: Any) -> None:
    missing = client.get("/api/nothing-here")
    assert missing.status_code == 404
    assert missing.get_json()["code"] == "not_found"
    wrong = client.delete("/api/projects")
    assert wrong.status_code == 405
    assert wrong.get_json()["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["Allow"]


def test_cors_allows_only_configured_origins(client: Any) -> None:
    allowed = client.get("/api/projects", headers={"Origin": "http://localhost:3000"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    denied = client.get("/api/projects", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in denied.headers


def test_time_format_regex_matches_every_project(client: Any, portfolio: dict[str, int]) -> None:
    for project in client.get("/api/projects").get_json():
        assert re.fullmatch(r"\d+m", project["time_spent"])
        assert re.fullmatch(r"\d+\.\d", project["repository_size_kb"])
        assert project["last_finished"] == "Never" or re.fullmatch(
            r"\d\d/\d\d/\d{4}, \d\d:\d\d:\d\d (AM|PM)", project["last_finished"]
        )
