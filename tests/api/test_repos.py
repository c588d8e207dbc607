"""POST /api/repos: validation, every GitHub answer through the stand-in over HTTP, 409s and the race."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from models import Project
from tests.gitrepos import RepoBuilder
from tests.repo_helpers import ADMIN, AUTH, count, finished, post, remote, settled
from tests.standin.server import GitHubStandIn

OWNER_CHARS = "Only ASCII letters, digits and single hyphens, not at the start or end (GitHub's rule)"
NAME_CHARS = "Only ASCII letters, digits, '.', '-' and '_' (GitHub's rule)"
OWNER_LONG = "At most 39 characters (GitHub's limit for account names)"
NAME_LONG = "At most 100 characters (GitHub's limit for repository names)"
ONE_REPO = "The URL must name exactly one repository: <host>/<owner>/<repository>"
UNAVAILABLE = "GitHub failed or did not answer in time: "
CREDENTIALS = "GitHub refused the server's credentials (GITHUB_ACCESS_TOKEN): "


@pytest.fixture
def config(config: dict[str, str]) -> dict[str, str]:
    return {**config, "ADMIN_TOKEN": ADMIN}


@pytest.fixture
def published(make_repo: Callable[[str], RepoBuilder]) -> RepoBuilder:
    """A two-commit repository published as a bare repo (served by the stand-in through git_dir)."""
    repo = make_repo("tracker")
    repo.write("app.py", "print('hi')\n")
    repo.commit("first")
    repo.write("app.py", "print('hi')\nprint('bye')\n")
    repo.commit("second")
    repo.publish()
    return repo


# -- POST /api/repos ---------------------------------------------------------------------------


@pytest.mark.sqlite
def test_add_by_owner_and_name_stores_metadata_and_refreshes(
    client: Any, app: Any, github: GitHubStandIn, published: RepoBuilder
) -> None:
    origin = github.add_repo(
        "tracker", git_dir=published.bare, stargazers_count=7, forks_count=2, open_issues_count=1,
        description="Keeps metrics", topics=["flask"], size=120, languages={"Python": 900},
    )  # fmt: skip
    response = post(client, {"owner": "octo-owner", "repo_name": "tracker"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["Location"] == f"/api/repos/{body['id']}"
    assert {k: body[k] for k in ("owner", "owner_name", "repo_name", "full_name", "source", "github_id")} == {
        "owner": "octo-owner", "owner_name": "octo-owner", "repo_name": "tracker",
        "full_name": "octo-owner/tracker", "source": "added", "github_id": origin.id,
    }  # fmt: skip
    assert (body["stars"], body["forks"], body["open_issues"], body["watchers"]) == (7, 2, 1, 7)
    assert (body["description"], body["topics"], body["repository_size_kb"]) == ("Keeps metrics", ["flask"], "120.0")
    assert (body["default_branch"], body["private"], body["fork"], body["archived"]) == ("main", False, False, False)
    assert body["check_status_url"] == f"/api/refresh/status/{body['refresh_job_id']}"
    assert len(github.calls("/repos/octo-owner/tracker", method="GET")) >= 1
    job = finished(client, body["refresh_job_id"])
    assert (job["status"], job["scope"], job["project_id"]) == ("completed", "repo", body["id"])
    assert job["trigger"] == "repo_added"
    stored = client.get(f"/api/repos/{body['id']}").get_json()
    assert (stored["commits"], stored["primary_language"], stored["last_error"]) == (2, "Python", None)
    assert stored["loc"] == 2
    assert stored["last_refreshed_at"] is not None


@pytest.mark.slow
def test_add_on_rq_is_refreshed_by_a_worker(
    rq_app: Any, rq_workers: Any, github: GitHubStandIn, published: RepoBuilder
) -> None:
    github.add_repo("tracker", git_dir=published.bare, stargazers_count=3)
    client = rq_app.test_client()
    body = post(client, {"url": f"{github.base_url}/octo-owner/tracker.git"}).get_json()
    rq_workers.start()
    job = finished(client, body["refresh_job_id"])
    assert (job["status"], job["repositories_processed"], job["errors"]) == ("completed", 1, []), rq_workers.logs()
    stored = client.get(f"/api/repos/{body['id']}").get_json()
    assert (stored["commits"], stored["stars"], stored["source"]) == (2, 3, "added")


@pytest.mark.parametrize(
    "url",
    [
        "{base}/octo-owner/tracker",
        "{base}/octo-owner/tracker/",
        "{base}/octo-owner/tracker.git",
        "{base}/Octo-Owner/Tracker.git/",
        " {base}/octo-owner/tracker\n",
    ],
)
def test_add_by_url(client: Any, github: GitHubStandIn, url: str) -> None:
    remote(github, "tracker")
    response = post(client, {"url": url.format(base=github.base_url)})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["full_name"] == "octo-owner/tracker"


def test_add_on_github_enterprise_by_its_url(config: dict[str, str]) -> None:
    from tests.conftest import build_app, dispose_app

    with GitHubStandIn.start(api_prefix="/api/v3") as enterprise:
        remote(enterprise, "team/app")
        app = build_app({**config, **enterprise.env()})
        try:
            client = app.test_client()
            added = post(client, {"url": f"{enterprise.base_url}/team/app.git"})
            assert (added.status_code, added.get_json()["full_name"]) == (201, "team/app")
            assert len(enterprise.calls("/repos/team/app")) == 1
            # github.com is just another git host here: no GitHub call, and only its http(s) URLs
            other = post(client, {"url": "git@github.com:team/app.git"})
            assert other.get_json()["details"][0]["message"] == WEB_ONLY
            settled(client)
        finally:
            dispose_app(app)


def test_add_with_seed_000_owner_name(client: Any, github: GitHubStandIn) -> None:
    remote(github, "tracker")
    response = post(client, {"owner_name": "octo-owner", "repo_name": "tracker"})
    assert response.status_code == 201
    assert response.get_json()["owner"] == "octo-owner"


def test_private_repository_visible_to_the_token(client: Any, github: GitHubStandIn) -> None:
    remote(github, "secret", private=True)
    remote(github, "someone/hidden", private=True)
    added = post(client, {"owner": "octo-owner", "repo_name": "secret"})
    assert added.status_code == 201
    assert added.get_json()["private"] is True
    unseen = post(client, {"owner": "someone", "repo_name": "hidden"})
    assert unseen.status_code == 404
    assert unseen.get_json()["code"] == "github_not_found"


REQUIRED = "Required (or give url instead)"
WEB_ONLY = "Give an https:// (or http://) git URL: https://<host>/<namespace>/<repo>"
CREDENTIALS = "The URL must not contain credentials; configure them per host (GIT_HOST_TOKENS)"


@pytest.mark.sqlite
@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({}, [("owner", REQUIRED), ("repo_name", REQUIRED)]),
        ({"owner": "octo"}, [("repo_name", REQUIRED)]),
        ({"repo_name": "tracker"}, [("owner", REQUIRED)]),
        ({"owner": "-octo", "repo_name": "tracker"}, [("owner", OWNER_CHARS)]),
        ({"owner": "a" * 40, "repo_name": "t"}, [("owner", OWNER_LONG)]),
        ({"owner": "", "repo_name": "t"}, [("owner", "Must not be empty")]),
        ({"owner": "ówner", "repo_name": "t"}, [("owner", OWNER_CHARS)]),
        ({"owner": "o", "repo_name": "x" * 101}, [("repo_name", NAME_LONG)]),
        ({"owner": "o", "repo_name": ".."}, [("repo_name", "'.' and '..' are reserved names")]),
        ({"owner": "o", "repo_name": "../../etc/passwd"}, [("repo_name", NAME_CHARS)]),
        ({"owner": "o", "repo_name": "x'; DROP TABLE projects;--"}, [("repo_name", NAME_CHARS)]),
        ({"owner": "o", "repo_name": "r\x00"}, [("repo_name", NAME_CHARS)]),
        ({"owner": "o", "repo_name": "\ud800"}, [("repo_name", NAME_CHARS)]),
        ({"owner": "-a", "repo_name": "."}, [("owner", OWNER_CHARS), ("repo_name", "'.' and '..' are reserved names")]),
        ({"owner": 5, "repo_name": "t"}, [("owner", "Input should be a valid string")]),
        ({"owner": "o", "repo_name": "t", "stars": 3}, [("stars", "Extra inputs are not permitted")]),
        # Another host: any git host's http(s) URL, by the same URL policy as `flask tracker add`.
        ({"url": "git@gitlab.com:o/r.git"}, [("url", WEB_ONLY)]),
        ({"url": "ssh://git@git.example/o/r.git"}, [("url", WEB_ONLY)]),
        ({"url": "git://git.example/o/r.git"}, [("url", WEB_ONLY)]),
        (
            {"url": "ftp://git.example/o/r.git"},
            [("url", "Use an https://, http://, ssh:// or git:// URL (or user@host:path)")],
        ),
        ({"url": "https://u:p@gitlab.com/o/r"}, [("url", CREDENTIALS)]),
        ({"url": "https://gitlab.com/r"}, [("url", "The URL must name a repository: <host>/<namespace>/<repository>")]),
        ({"url": "/srv/git/r.git"}, [("url", "Local repositories are not allowed (ALLOW_LOCAL_REPOSITORIES)")]),
        ({"url": "file:///srv/git/r.git"}, [("url", "Local repositories are not allowed (ALLOW_LOCAL_REPOSITORIES)")]),
        ({"url": "{base}/o"}, [("url", ONE_REPO)]),
        ({"url": "{base}/o/r/../../x"}, [("url", ONE_REPO)]),
        ({"url": "x" * 501}, [("url", "String should have at most 500 characters")]),
        ({"url": "{base}/o/r", "owner": "o"}, [("owner", "Give either url, or owner and repo_name, not both")]),
        ({"url": "{base}/o/r", "repo_name": "r"}, [("repo_name", "Give either url, or owner and repo_name, not both")]),
        (
            {"owner": "o", "owner_name": "o", "repo_name": "r"},
            [("owner_name", "Give owner or owner_name (an older name for owner), not both")],
        ),
        ([], [("_schema", "Input should be a valid dictionary or instance of RepoCreate")]),
    ],
)
def test_invalid_input_is_422_per_field(client: Any, github: GitHubStandIn, body: Any, details: list[Any]) -> None:
    host = github.base_url.split("://", 1)[1]
    if isinstance(body, dict) and isinstance(body.get("url"), str):
        body = {**body, "url": body["url"].format(base=github.base_url)}
    response = post(client, body)
    assert response.status_code == 422
    payload = response.get_json()
    assert (payload["error"], payload["code"]) == ("Invalid input", "validation_error")
    got = [(d["field"], d["message"]) for d in payload["details"]]
    assert got == [(f, m.format(host=host)) for f, m in details]
    assert {d["location"] for d in payload["details"]} == {"json"}
    assert github.calls("/repos") == []


def test_malformed_json_is_400(client: Any, github: GitHubStandIn) -> None:
    response = client.post("/api/repos", data="{not json", headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["code"] == "bad_request"


def test_repository_unknown_to_github_is_404(client: Any, app: Any, github: GitHubStandIn) -> None:
    response = post(client, {"owner": "octo-owner", "repo_name": "nope"})
    assert response.status_code == 404
    assert response.get_json() == {
        "error": "GitHub does not know the repository octo-owner/nope, or the server's token cannot see it",
        "code": "github_not_found",
        "details": [],
    }
    assert count(app, Project) == 0


def test_renamed_repository_is_added_under_its_new_name(client: Any, github: GitHubStandIn) -> None:
    origin = remote(github, "old-name")
    github.rename_repo("octo-owner/old-name", "octo-owner/new-name")
    response = post(client, {"owner": "octo-owner", "repo_name": "old-name"})
    assert response.status_code == 201
    assert (response.get_json()["full_name"], response.get_json()["github_id"]) == ("octo-owner/new-name", origin.id)
    again = post(client, {"owner": "octo-owner", "repo_name": "old-name"})
    assert again.status_code == 409
    assert again.get_json()["id"] == response.get_json()["id"]
