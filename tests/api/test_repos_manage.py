"""GET /api/repos (filters, sort, pages), GET/PATCH/PUT/DELETE /api/repos/<id> and a single refresh."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from infra.extensions import db
from models import Commit, DeletedRepository, Project, RefreshJob, RepoUpdate
from tests.repo_helpers import ADMIN, AUTH, add_project, count, finished, post, remote
from tests.standin.server import GitHubStandIn


@pytest.fixture
def config(config: dict[str, str]) -> dict[str, str]:
    return {**config, "ADMIN_TOKEN": ADMIN}


# -- GET /api/repos ------------------------------------------------------------------------------


@pytest.fixture
def catalogue(app: Any) -> dict[str, int]:
    from datetime import UTC, datetime

    def at(day: int) -> datetime:
        return datetime(2024, 1, day, tzinfo=UTC)

    return {
        "alpha": add_project(app, "octo-owner", "alpha", stars=5, loc=100, primary_language="Python",
                             tags=["web", "api"], last_commit_date=at(3), source="discovered"),
        "beta": add_project(app, "octo-owner", "Beta", stars=50, loc=10, primary_language="Go", tags=["cli"],
                            last_commit_date=at(1), source="added"),
        "gamma": add_project(app, "Other-Org", "gamma", stars=0, loc=1000, primary_language=None, tags=[],
                             source="added"),
        "delta": add_project(app, "other-org", "delta", stars=7, loc=5, primary_language="python",
                             tags=["api"], last_commit_date=at(9), source="discovered"),
    }  # fmt: skip


def names(response: Any) -> list[str]:
    return [r["repo_name"] for r in response.get_json()["items"]]


@pytest.mark.sqlite
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["alpha", "Beta", "delta", "gamma"]),
        ("sort=name&direction=desc", ["gamma", "delta", "Beta", "alpha"]),
        ("sort=stars", ["Beta", "delta", "alpha", "gamma"]),
        ("sort=stars&direction=asc", ["gamma", "alpha", "delta", "Beta"]),
        ("sort=loc", ["gamma", "alpha", "Beta", "delta"]),
        ("sort=last_commit", ["delta", "alpha", "Beta", "gamma"]),
        ("sort=last_commit&direction=asc", ["Beta", "alpha", "delta", "gamma"]),
        ("owner=OTHER-ORG", ["delta", "gamma"]),
        ("language=python", ["alpha", "delta"]),
        ("language=Unknown", ["gamma"]),
        ("source=added", ["Beta", "gamma"]),
        ("tag=api", ["alpha", "delta"]),
        ("tag=api&owner=octo-owner", ["alpha"]),
        ("tag=nothing", []),
    ],
)
def test_list_filters_and_sorts(client: Any, catalogue: dict[str, int], query: str, expected: list[str]) -> None:
    response = client.get(f"/api/repos?{query}")
    assert response.status_code == 200
    assert names(response) == expected
    assert response.get_json()["total"] == len(expected)


@pytest.mark.sqlite
def test_list_pagination_and_link_header(client: Any, catalogue: dict[str, int]) -> None:
    first = client.get("/api/repos?per_page=3&sort=stars")
    assert {k: v for k, v in first.get_json().items() if k != "items"} == {
        "page": 1, "per_page": 3, "total": 4, "pages": 2,
    }  # fmt: skip
    assert names(first) == ["Beta", "delta", "alpha"]
    base = "http://localhost/api/repos"
    assert first.headers["Link"] == (
        f'<{base}?per_page=3&sort=stars&page=2>; rel="next", '
        f'<{base}?per_page=3&sort=stars&page=1>; rel="first", <{base}?per_page=3&sort=stars&page=2>; rel="last"'
    )
    second = client.get("/api/repos?per_page=3&sort=stars&page=2")
    assert names(second) == ["gamma"]
    assert second.headers["Link"] == (
        f'<{base}?per_page=3&sort=stars&page=1>; rel="prev", '
        f'<{base}?per_page=3&sort=stars&page=1>; rel="first", <{base}?per_page=3&sort=stars&page=2>; rel="last"'
    )
    beyond = client.get("/api/repos?per_page=3&page=9")
    assert (beyond.status_code, names(beyond), beyond.get_json()["pages"]) == (200, [], 2)
    assert "Link" not in client.get("/api/repos").headers


@pytest.mark.sqlite
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("page=x", "page"),
        ("sort=size", "sort"),
        ("direction=up", "direction"),
        ("source=mine", "source"),
        ("owner=%00", "owner"),
        ("tag=a%01b", "tag"),
        ("language=" + "x" * 101, "language"),
        ("colour=red", "colour"),
    ],
)
def test_list_rejects_bad_parameters(client: Any, query: str, field: str) -> None:
    response = client.get(f"/api/repos?{query}")
    assert response.status_code == 422
    assert [(d["location"], d["field"]) for d in response.get_json()["details"]] == [("query", field)]


# -- GET / PATCH / PUT / DELETE /api/repos/<id> ---------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.parametrize("repo_id", ["999", str(2**31), str(2**63 + 5)])
def test_unknown_repository_id_is_404(client: Any, repo_id: str) -> None:
    for method in ("get", "patch", "put", "delete"):
        response = getattr(client, method)(f"/api/repos/{repo_id}", json={}, headers=AUTH)
        if method == "put":
            continue  # a PUT body must be complete first (422)
        assert response.status_code == 404, method
        assert response.get_json() == {"error": "Repository not found", "code": "not_found", "details": []}


@pytest.mark.sqlite
def test_patch_edits_user_fields_and_affects_projects(client: Any, app: Any, catalogue: dict[str, int]) -> None:
    alpha, beta = catalogue["alpha"], catalogue["beta"]
    changes = {"display_name": "Alpha ✨", "description_override": "Mine.\nReally.", "tags": ["b", "a"],
               "featured": True}  # fmt: skip
    response = client.patch(f"/api/repos/{beta}", json=changes, headers=AUTH)
    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in changes} == changes
    assert (body["hidden"], body["paused"], body["stars"]) == (False, False, 50)
    projects = client.get("/api/projects").get_json()
    assert projects[0]["name"] == "Beta" and projects[0]["description"] == "Mine.\nReally."
    assert client.patch(f"/api/repos/{alpha}", json={"hidden": True}, headers=AUTH).status_code == 200
    assert "alpha" not in [p["name"] for p in client.get("/api/projects").get_json()]
    cleared = client.patch(f"/api/repos/{beta}", json={"display_name": None, "tags": []}, headers=AUTH).get_json()
    assert (cleared["display_name"], cleared["tags"], cleared["featured"]) == (None, [], True)
    client.patch(f"/api/repos/{alpha}", json={"paused": True}, headers=AUTH)
    with app.app_context():
        from refresh.discovery import refreshable_projects

        assert alpha not in [p.id for p in refreshable_projects()]


@pytest.mark.sqlite
@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"stars": 10}, "stars", "Read-only: set from GitHub or by refreshes"),
        ({"repo_name": "x"}, "repo_name", "Read-only: set from GitHub or by refreshes"),
        ({"id": 3}, "id", "Read-only: set from GitHub or by refreshes"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
        ({"featured": "yes"}, "featured", "Input should be a valid boolean"),
        ({"featured": None}, "featured", "Input should be a valid boolean"),
        ({"tags": ["a", "A"]}, "tags", "Tags must be unique (ignoring case)"),
        ({"tags": [str(i) for i in range(21)]}, "tags", "List should have at most 20 items after validation, not 21"),
        ({"tags": [""]}, "tags.0", "String should have at least 1 character"),
        ({"tags": ["x" * 51]}, "tags.0", "String should have at most 50 characters"),
        ({"tags": ["ok", "   "]}, "tags.1", "Must not be blank (use null to clear)"),
        ({"tags": None}, "tags", "Input should be a valid list"),
        ({"display_name": "  "}, "display_name", "Must not be blank (use null to clear)"),
        ({"display_name": "x" * 201}, "display_name", "String should have at most 200 characters"),
        ({"display_name": "a\x00b"}, "display_name", "Must not contain control characters"),
        ({"description_override": "bad\x07bell"}, "description_override", "Must not contain control characters"),
        (
            {"description_override": "\udc80"},
            "description_override",
            "Input should be a valid string, unable to parse raw data as a unicode string",
        ),
    ],
)
def test_patch_rejects_read_only_unknown_and_invalid_fields(
    client: Any, catalogue: dict[str, int], body: dict[str, Any], field: str, message: str
) -> None:
    response = client.patch(f"/api/repos/{catalogue['alpha']}", json=body, headers=AUTH)
    assert response.status_code == 422
    assert [(d["field"], d["message"]) for d in response.get_json()["details"]] == [(field, message)]
    assert client.get(f"/api/repos/{catalogue['alpha']}").get_json()["stars"] == 5


@pytest.mark.sqlite
def test_put_replaces_every_editable_field(client: Any, catalogue: dict[str, int]) -> None:
    beta = catalogue["beta"]
    full = {"display_name": "B", "description_override": None, "tags": ["x"], "featured": False, "hidden": True,
            "paused": True}  # fmt: skip
    response = client.put(f"/api/repos/{beta}", json=full, headers=AUTH)
    assert response.status_code == 200
    assert {k: response.get_json()[k] for k in full} == full
    partial = client.put(f"/api/repos/{beta}", json={"display_name": "C"}, headers=AUTH)
    assert partial.status_code == 422
    assert sorted(d["field"] for d in partial.get_json()["details"]) == [
        "description_override", "featured", "hidden", "paused", "tags",
    ]  # fmt: skip
    seed_000 = client.put(f"/api/repos/{beta}", json={**full, "stars": 3, "forks": 1}, headers=AUTH)
    assert [d["field"] for d in seed_000.get_json()["details"]] == ["stars", "forks"]


@pytest.mark.sqlite
def test_delete_forgets_everything_and_leaves_a_tombstone(client: Any, app: Any, catalogue: dict[str, int]) -> None:
    from datetime import UTC, date, datetime

    alpha = catalogue["alpha"]
    with app.app_context():
        now = datetime(2024, 1, 2, tzinfo=UTC)
        project = db.session.get(Project, alpha)
        project.github_id = 4242
        db.session.add(RepoUpdate(project_id=alpha, update_type="stars", old_value="4", new_value="5"))
        db.session.add(Commit(project_id=alpha, sha="a" * 40, authored_at=now, committed_at=now,
                              committed_day=date(2024, 1, 2)))  # fmt: skip
        db.session.add(RefreshJob(scope="repo", project_id=alpha, status="completed"))
        db.session.commit()
    response = client.delete(f"/api/repos/{alpha}", headers=AUTH)
    assert (response.status_code, response.get_data()) == (204, b"")
    assert client.get(f"/api/repos/{alpha}").status_code == 404
    assert client.delete(f"/api/repos/{alpha}", headers=AUTH).status_code == 404
    assert (count(app, RepoUpdate), count(app, Commit), count(app, Project)) == (0, 0, 3)
    with app.app_context():
        tomb = db.session.scalars(select(DeletedRepository)).one()
        assert (tomb.github_id, tomb.full_name_key) == (4242, "octo-owner/alpha")
        assert db.session.scalars(select(RefreshJob.project_id)).one() is None


@pytest.mark.sqlite
def test_delete_then_rediscover_keeps_it_deleted_until_added_again(client: Any, github: GitHubStandIn) -> None:
    remote(github, "tracker")
    remote(github, "other")
    first = client.post("/api/refresh").get_json()
    finished(client, first["job_id"])
    listed = {r["full_name"]: r for r in client.get("/api/repos").get_json()["items"]}
    assert sorted(listed) == ["octo-owner/other", "octo-owner/tracker"]
    assert listed["octo-owner/tracker"]["source"] == "discovered"
    assert client.delete(f"/api/repos/{listed['octo-owner/tracker']['id']}", headers=AUTH).status_code == 204
    second = client.post("/api/refresh?force=1", headers=AUTH).get_json()
    assert second["outcome"] == "started"
    job = finished(client, second["job_id"])
    assert job["total_repositories"] == 1
    assert [r["full_name"] for r in client.get("/api/repos").get_json()["items"]] == ["octo-owner/other"]
    again = post(client, {"owner": "octo-owner", "repo_name": "tracker"})
    assert again.status_code == 201
    assert again.get_json()["source"] == "added"
    finished(client, again.get_json()["refresh_job_id"])
    third = client.post("/api/refresh?force=1", headers=AUTH).get_json()
    assert finished(client, third["job_id"])["total_repositories"] == 2


@pytest.mark.sqlite
def test_single_repository_refresh(client: Any, catalogue: dict[str, int]) -> None:
    response = client.post(f"/api/repos/{catalogue['gamma']}/refresh", headers=AUTH)
    assert response.status_code == 202
    body = response.get_json()
    assert (body["message"], body["outcome"]) in {("Refresh job started", "started")}
    assert body["check_status_url"] == f"/api/refresh/status/{body['job_id']}"
    job = finished(client, body["job_id"])
    assert (job["scope"], job["project_id"], job["total_repositories"]) == ("repo", catalogue["gamma"], 1)
    assert client.post("/api/repos/999/refresh", headers=AUTH).status_code == 404
