"""POST /api/repos with a plain git URL of any host: 201, refresh queued, GitHub-only fields null."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures_git import SampleHistory
from tests.refresh_helpers import ADMIN, bare_dir, running_gitlab, wait_as_admin
from tests.standin.gitlab import GitLabStandIn
from tests.standin.server import GitHubStandIn

TOKEN = "glpat-api-test-token-0001"
GITHUB_ONLY_NULL = ("github_id", "homepage", "pushed_at", "github_created_at")


@pytest.fixture
def gitlab() -> Iterator[GitLabStandIn]:
    with running_gitlab(TOKEN) as server:
        yield server


@pytest.fixture
def config(config: dict[str, str], gitlab: GitLabStandIn) -> dict[str, str]:
    return {**config, "GITLAB_HOSTS": gitlab.host, "GIT_HOST_TOKENS": f"{gitlab.host}={TOKEN}"}


def post(client: Any, url: str) -> Any:
    return client.post("/api/repos", json={"url": url}, headers=ADMIN)


def test_a_gitlab_url_is_tracked_and_refreshed_from_gitlab_and_git(
    client: Any, github: GitHubStandIn, gitlab: GitLabStandIn, sample_history: SampleHistory
) -> None:
    gitlab.add_project("group/sub/proj", git_dir=bare_dir(sample_history), star_count=11, forks_count=4,
                       description="On GitLab", default_branch=sample_history.repo.default_branch)  # fmt: skip
    github.reset_log()
    added = post(client, f"{gitlab.base_url}/group/sub/proj.git")

    assert added.status_code == 201, added.get_json()
    body = added.get_json()
    assert added.headers["Location"] == f"/api/repos/{body['id']}"
    assert (body["owner"], body["repo_name"], body["source"]) == ("group/sub", "proj", "added")
    assert all(body[name] is None for name in GITHUB_ONLY_NULL)
    assert (body["private"], body["stars"]) == (True, 0)  # hidden until GitLab calls it public
    assert body["check_status_url"] == f"/api/refresh/status/{body['refresh_job_id']}"

    job = wait_as_admin(client, body["refresh_job_id"])
    assert (job["status"], job["repositories_failed"]) == ("completed", 0), job
    repo = client.get(f"/api/repos/{body['id']}").get_json()
    assert (repo["stars"], repo["forks"], repo["description"], repo["private"]) == (11, 4, "On GitLab", False)
    assert repo["commits"] == len(sample_history.repo.history())
    assert all(repo[name] is None for name in GITHUB_ONLY_NULL)
    assert [r.path for r in gitlab.api_requests()] == ["/api/v4/projects/group%2Fsub%2Fproj"]
    assert github.log == []  # nothing asked of GitHub

    again = post(client, f"{gitlab.base_url}/GROUP/sub/proj")
    assert (again.status_code, again.get_json()["code"], again.get_json()["id"]) == (409, "already_tracked", body["id"])


def test_a_plain_git_host_url_is_tracked_from_git_alone(
    client: Any, github: GitHubStandIn, sample_history: SampleHistory
) -> None:
    host = GitHubStandIn.start(login="team", user_id=5000, token="git-host-token")  # git smart HTTP only
    try:
        host.git_anonymous_public = True
        url = host.git_url(host.add_repo("plain", git_dir=bare_dir(sample_history)))
        added = post(client, url)
        assert added.status_code == 201, added.get_json()
        body = added.get_json()
        assert (body["private"], body["html_url"]) == (False, url.removesuffix(".git"))
        job = wait_as_admin(client, body["refresh_job_id"])
        assert (job["status"], job["repositories_failed"]) == ("completed", 0), job
        repo = client.get(f"/api/repos/{body['id']}").get_json()
        assert (repo["stars"], repo["forks"], repo["commits"]) == (0, 0, len(sample_history.repo.history()))
        assert host.calls("/repos") == [] and github.calls("/repos") == []
    finally:
        host.stop()


def test_a_local_path_needs_the_setting(make_app: Any, sample_history: SampleHistory) -> None:
    path = str(bare_dir(sample_history))
    refused = post(make_app().test_client(), path)
    assert refused.status_code == 422
    assert (
        refused.get_json()["details"][0]["message"] == "Local repositories are not allowed (ALLOW_LOCAL_REPOSITORIES)"
    )

    app = make_app(ALLOW_LOCAL_REPOSITORIES="true")
    added = post(app.test_client(), path)
    assert added.status_code == 201, added.get_json()
    job = wait_as_admin(app.test_client(), added.get_json()["refresh_job_id"])
    assert (job["status"], job["repositories_failed"]) == ("completed", 0), job
