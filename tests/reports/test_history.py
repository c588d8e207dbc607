"""History of tracked repositories: RepoUpdate rows written by refreshes, the history API, time series."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.extensions import db
from models import Project, RepoUpdate, full_name_key
from tests.gitrepos import RepoBuilder
from tests.repo_helpers import ADMIN, AUTH, finished
from tests.standin.server import GitHubStandIn


@pytest.fixture
def config(config: dict[str, str]) -> dict[str, str]:
    return {**config, "ADMIN_TOKEN": ADMIN}


@pytest.fixture
def tracked(client: Any, github: GitHubStandIn, make_repo: Callable[[str], RepoBuilder]) -> dict[str, Any]:
    """Add octo-owner/tracker (7 stars, 2 forks, a real git history) by POST and let its refresh finish."""
    repo = make_repo("tracker")
    repo.write("app.py", "print('hi')\n")
    repo.commit("first")
    repo.publish()
    github.add_repo("tracker", git_dir=repo.bare, stargazers_count=7, forks_count=2)
    body = client.post("/api/repos", json={"owner": "octo-owner", "repo_name": "tracker"}, headers=AUTH).get_json()
    assert finished(client, body["refresh_job_id"])["status"] == "completed"
    return body


def refresh(client: Any, repo_id: int) -> dict[str, Any]:
    started = client.post(f"/api/repos/{repo_id}/refresh", headers=AUTH)
    assert started.status_code == 202
    job = finished(client, started.get_json()["job_id"])
    assert (job["status"], job["errors"]) == ("completed", [])
    return job


def history(client: Any, repo_id: int, query: str = "") -> list[tuple[str, str | None, str | None]]:
    items = client.get(f"/api/repos/{repo_id}/history?{query}").get_json()["items"]
    return [(i["update_type"], i["old_value"], i["new_value"]) for i in items]


@pytest.mark.sqlite
def test_star_and_fork_changes_are_recorded_and_served_as_time_series(
    client: Any, github: GitHubStandIn, tracked: dict[str, Any]
) -> None:
    repo_id = tracked["id"]
    assert history(client, repo_id) == []  # being added is not a change
    github.update_repo("octo-owner/tracker", stargazers_count=10)
    refresh(client, repo_id)
    github.update_repo("octo-owner/tracker", stargazers_count=12, forks_count=3)
    refresh(client, repo_id)
    refresh(client, repo_id)  # nothing changed: nothing recorded
    # Newest first; within one refresh, rows are written in field order (stars, then forks).
    assert history(client, repo_id, "type=stars,forks") == [
        ("forks", "2", "3"), ("stars", "10", "12"), ("stars", "7", "10"),
    ]  # fmt: skip
    first = client.get(f"/api/repos/{repo_id}/history?type=stars").get_json()["items"][-1]
    assert first["description"] == "stars: 7 → 10"
    stars = client.get(f"/api/repos/{repo_id}/history/stars").get_json()
    assert (stars["repository"], stars["metric"]) == ("octo-owner/tracker", "stars")
    assert [p["value"] for p in stars["points"]] == [7, 10, 12]
    assert stars["points"][0]["at"] == tracked["created_at"]
    forks = client.get(f"/api/repos/{repo_id}/history/forks").get_json()
    assert [p["value"] for p in forks["points"]] == [2, 3]
    assert client.get(f"/api/repos/{repo_id}").get_json()["stars"] == 12


@pytest.mark.sqlite
def test_rename_is_followed_by_github_id_and_recorded(
    client: Any, github: GitHubStandIn, tracked: dict[str, Any]
) -> None:
    repo_id = tracked["id"]
    github.rename_repo("octo-owner/tracker", "octo-owner/tracker-2")
    refresh(client, repo_id)
    assert history(client, repo_id, "type=renamed") == [("renamed", "octo-owner/tracker", "octo-owner/tracker-2")]
    listed = client.get("/api/repos").get_json()["items"]
    assert [(r["id"], r["full_name"], r["github_id"]) for r in listed] == [
        (repo_id, "octo-owner/tracker-2", tracked["github_id"])
    ]
    full = client.post("/api/refresh", headers=AUTH).get_json()
    finished(client, full["job_id"])
    assert [r["id"] for r in client.get("/api/repos").get_json()["items"]] == [repo_id]  # not duplicated
    github.rename_repo("octo-owner/tracker-2", "new-org/tracker-2")  # a transfer
    refresh(client, repo_id)
    assert client.get(f"/api/repos/{repo_id}").get_json()["owner"] == "new-org"
    assert history(client, repo_id, "type=renamed")[0] == ("renamed", "octo-owner/tracker-2", "new-org/tracker-2")


@pytest.fixture
def seeded(app: Any) -> int:
    """A project created on 2024-01-01 with five recorded changes, one per day."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [("stars", "3", "5"), ("forks", "0", "1"), ("stars", "5", "4"), ("renamed", "o/a", "o/b"),
            ("default_branch", "master", "main")]  # fmt: skip
    with app.app_context():
        project = Project(owner="o", name="b", full_name_key=full_name_key("o", "b"), stars=4, forks=1,
                          created_at=start)  # fmt: skip
        db.session.add(project)
        db.session.flush()
        for day, (kind, old, new) in enumerate(rows, start=1):
            at = start + timedelta(days=day)
            db.session.add(RepoUpdate(project_id=project.id, update_type=kind, old_value=old, new_value=new,
                                      description=f"{kind}: {old} → {new}", created_at=at))  # fmt: skip
        db.session.commit()
        return project.id


@pytest.mark.sqlite
def test_history_is_newest_first_filtered_and_paginated(client: Any, seeded: int) -> None:
    assert [t for t, _o, _n in history(client, seeded)] == ["default_branch", "renamed", "stars", "forks", "stars"]
    assert history(client, seeded, "type=stars") == [("stars", "5", "4"), ("stars", "3", "5")]
    assert history(client, seeded, "type=renamed,forks") == [("renamed", "o/a", "o/b"), ("forks", "0", "1")]
    assert history(client, seeded, "type=loc") == []
    page = client.get(f"/api/repos/{seeded}/history?per_page=2&page=2")
    body = page.get_json()
    assert {k: body[k] for k in ("page", "per_page", "total", "pages")} == {"page": 2, "per_page": 2, "total": 5,
                                                                            "pages": 3}  # fmt: skip
    assert [i["update_type"] for i in body["items"]] == ["stars", "forks"]
    assert body["items"][0] == {"id": body["items"][0]["id"], "update_type": "stars", "old_value": "5",
                                "new_value": "4", "description": "stars: 5 → 4",
                                "created_at": "2024-01-04T00:00:00Z"}  # fmt: skip
    assert 'rel="next"' in page.headers["Link"] and 'rel="prev"' in page.headers["Link"]


@pytest.mark.sqlite
def test_time_series_start_at_the_first_tracked_value(client: Any, app: Any, seeded: int) -> None:
    stars = client.get(f"/api/repos/{seeded}/history/stars").get_json()
    assert stars == {
        "repository": "o/b",
        "repository_id": seeded,
        "metric": "stars",
        "points": [
            {"at": "2024-01-01T00:00:00Z", "value": 3},
            {"at": "2024-01-02T00:00:00Z", "value": 5},
            {"at": "2024-01-04T00:00:00Z", "value": 4},
        ],
    }
    with app.app_context():
        quiet = Project(owner="o", name="quiet", full_name_key="o/quiet", forks=9,
                        created_at=datetime(2024, 2, 1, tzinfo=UTC))  # fmt: skip
        db.session.add(quiet)
        db.session.commit()
        quiet_id = quiet.id
    forks = client.get(f"/api/repos/{quiet_id}/history/forks").get_json()
    assert forks["points"] == [{"at": "2024-02-01T00:00:00Z", "value": 9}]


@pytest.mark.parametrize("path", ["history", "history/stars", "history/forks"])
def test_history_of_unknown_repository_is_404(client: Any, path: str) -> None:
    response = client.get(f"/api/repos/12345/{path}")
    assert response.status_code == 404
    assert response.get_json()["error"] == "Repository not found"


@pytest.mark.parametrize("query", ["type=Stars", "type=stars,", "type=a;b", "page=0", "per_page=500", "kind=stars"])
def test_history_rejects_bad_parameters(client: Any, seeded: int, query: str) -> None:
    response = client.get(f"/api/repos/{seeded}/history?{query}")
    assert response.status_code == 422
    assert response.get_json()["code"] == "validation_error"
