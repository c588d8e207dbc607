"""GitLab hosts: stars, forks, description, default branch and visibility from GitLab's Projects API.

The GitLab stand-in (tests/standin/gitlab.py) serves both the API and git over real HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from gh.gitlab import gitlab_governor
from infra.extensions import db
from models import HttpCacheEntry, Project, RepoUpdate
from tests.fixtures_git import SampleHistory
from tests.refresh_helpers import ADMIN, added_job, bare_dir, running_gitlab
from tests.refresh_helpers import wait_as_admin as wait_for_job
from tests.standin.gitlab import GitLabStandIn
from tests.standin.server import GitHubStandIn

TOKEN = "glpat-only-for-the-gitlab-host-42"
PATH = "team/proj"
NOT_LIMITED = "GitLab's rate limit"


@pytest.fixture
def gitlab() -> Iterator[GitLabStandIn]:
    with running_gitlab(TOKEN) as server:
        yield server


@pytest.fixture
def config(config: dict[str, str], gitlab: GitLabStandIn) -> dict[str, str]:
    return {**config, "GITLAB_HOSTS": f"gitlab.com,{gitlab.host}", "GIT_HOST_TOKENS": f"{gitlab.host}={TOKEN}"}


def add(runner: Any, client: Any, url: str) -> tuple[int, dict[str, Any]]:
    """Track a URL through the CLI and wait for its first refresh; return the repository id and job."""
    added = runner.invoke(args=["tracker", "add", url])
    job = wait_for_job(client, added_job(added.stdout))
    # Without a job queue the command waits for the refresh and tells whether it failed.
    assert added.exit_code == (1 if job["repositories_failed"] else 0), added.output
    repos = client.get("/api/repos", headers=ADMIN).get_json()["items"]
    name = url.rstrip("/").rpartition("/")[2].removesuffix(".git")
    return next(r["id"] for r in repos if r["repo_name"] == name), job


def refresh(client: Any, repo_id: int) -> dict[str, Any]:
    started = client.post(f"/api/repos/{repo_id}/refresh")
    assert started.status_code == 202, started.get_json()
    return wait_for_job(client, started.get_json()["job_id"])


def admin_view(client: Any, repo_id: int) -> dict[str, Any]:
    return client.get(f"/api/repos/{repo_id}", headers=ADMIN).get_json()


def test_refresh_reads_stars_forks_description_and_branch_then_revalidates(
    runner: Any, app: Any, client: Any, gitlab: GitLabStandIn, sample_history: SampleHistory
) -> None:
    branch = sample_history.repo.default_branch
    gitlab.add_project(PATH, git_dir=bare_dir(sample_history), star_count=7, forks_count=2,
                       description="Tracked on GitLab", default_branch=branch)  # fmt: skip
    repo_id, job = add(runner, client, gitlab.git_url(PATH))
    assert (job["status"], job["repositories_failed"]) == ("completed", 0), job

    repo = client.get(f"/api/repos/{repo_id}").get_json()  # public on GitLab: anyone reads it
    assert (repo["stars"], repo["forks"], repo["description"], repo["default_branch"]) == (
        7, 2, "Tracked on GitLab", branch,
    )  # fmt: skip
    assert (repo["private"], repo["html_url"], repo["github_id"]) == (False, f"{gitlab.base_url}/{PATH}", None)
    assert repo["commits"] == len(sample_history.repo.history())
    first = gitlab.api_requests()
    assert [(r.path, r.status, r.headers.get("private-token")) for r in first] == [
        ("/api/v4/projects/team%2Fproj", 200, TOKEN)
    ]
    assert "if-none-match" not in first[0].headers

    # Unchanged: GitLab answers 304 and nothing is recorded.
    assert refresh(client, repo_id)["repositories_failed"] == 0
    second = gitlab.api_requests()[1]
    assert (second.status, second.headers["if-none-match"].startswith('W/"')) == (304, True)
    with app.app_context():
        assert db.session.scalars(select(RepoUpdate).where(RepoUpdate.project_id == repo_id)).all() == []

    # Stars and forks change: a 200 again, recorded as history rows like GitHub's.
    gitlab.update_project(PATH, star_count=9, forks_count=3)
    assert refresh(client, repo_id)["repositories_failed"] == 0
    assert gitlab.api_requests()[2].status == 200
    assert (admin_view(client, repo_id)["stars"], admin_view(client, repo_id)["forks"]) == (9, 3)
    with app.app_context():
        rows = db.session.scalars(select(RepoUpdate).where(RepoUpdate.project_id == repo_id)).all()
        assert sorted((r.update_type, r.old_value, r.new_value) for r in rows) == [
            ("forks", "2", "3"),
            ("stars", "7", "9"),
        ]
    stars = client.get(f"/api/repos/{repo_id}/history/stars").get_json()
    assert [p["value"] for p in stars["points"]] == [7, 9]


def test_rate_limit_is_a_clean_per_repository_error_and_pauses_the_host(
    runner: Any, client: Any, gitlab: GitLabStandIn, sample_history: SampleHistory
) -> None:
    gitlab.add_project(PATH, git_dir=bare_dir(sample_history), star_count=1)
    gitlab.inject_rate_limit(times=1, retry_after=3600)  # longer than GITLAB_MAX_PAUSE: no waiting
    repo_id, job = add(runner, client, gitlab.git_url(PATH))

    assert (job["status"], job["repositories_failed"]) == ("completed", 1), job
    error = job["errors"][0]["error"]
    assert f"GitLab's rate limit on {gitlab.host} is exhausted" in error
    assert "Internal error" not in error and TOKEN not in str(job)
    assert [r.status for r in gitlab.api_requests()] == [429]

    # The host stays paused: the next refresh asks GitLab nothing and fails the same clean way.
    again = refresh(client, repo_id)
    assert again["repositories_failed"] == 1
    assert f"GitLab's rate limit on {gitlab.host} is exhausted" in again["errors"][0]["error"]
    assert [r.status for r in gitlab.api_requests()] == [429]


def test_short_retry_after_is_waited_out(make_app: Any, gitlab: GitLabStandIn, sample_history: SampleHistory) -> None:
    gitlab.add_project(PATH, git_dir=bare_dir(sample_history), star_count=4)
    gitlab.inject_rate_limit(times=1, retry_after=1)
    app = make_app(GITLAB_MAX_PAUSE="5")
    repo_id, job = add(app.test_cli_runner(), app.test_client(), gitlab.git_url(PATH))
    assert (job["status"], job["repositories_failed"]) == ("completed", 0), job
    assert [r.status for r in gitlab.api_requests()] == [429, 200]
    assert admin_view(app.test_client(), repo_id)["stars"] == 4


@pytest.mark.parametrize("visibility", ["private", "internal"])
def test_a_project_gitlab_does_not_call_public_is_private(
    runner: Any, client: Any, gitlab: GitLabStandIn, sample_history: SampleHistory, visibility: str
) -> None:
    gitlab.add_project(PATH, git_dir=bare_dir(sample_history), star_count=5, visibility=visibility)
    repo_id, job = add(runner, client, gitlab.git_url(PATH))
    assert (job["status"], job["repositories_failed"]) == ("completed", 0), job

    assert client.get(f"/api/repos/{repo_id}").status_code == 404
    assert client.get("/api/repos").get_json()["items"] == []
    assert [p["name"] for p in client.get("/api/projects").get_json()] == []
    seen = admin_view(client, repo_id)
    assert (seen["private"], seen["stars"]) == (True, 5)

    gitlab.update_project(PATH, visibility="public")
    assert refresh(client, repo_id)["repositories_failed"] == 0
    assert client.get(f"/api/repos/{repo_id}").get_json()["private"] is False


def test_the_token_reaches_only_its_host_and_no_log_or_error(
    make_app: Any, github: GitHubStandIn, gitlab: GitLabStandIn, sample_history: SampleHistory,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    other = GitLabStandIn.start(token="unused-other-token")
    try:
        other.add_project("team/open", git_dir=bare_dir(sample_history), star_count=2)
        gitlab.add_project(PATH, git_dir=bare_dir(sample_history), visibility="private", star_count=3)
        gitlab.add_project("team/gone", git_dir=None)  # the API answers, git has nothing: a clean error
        app = make_app(GITLAB_HOSTS=f"{gitlab.host},{other.host}")
        runner, client = app.test_cli_runner(), app.test_client()
        caplog.set_level(logging.DEBUG)
        _, mine = add(runner, client, gitlab.git_url(PATH))
        _, theirs = add(runner, client, other.git_url("team/open"))
        _, failed = add(runner, client, gitlab.git_url("team/gone"))

        assert (mine["repositories_failed"], theirs["repositories_failed"], failed["repositories_failed"]) == (0, 0, 1)
        to_mine = gitlab.requests
        assert {r.headers.get("private-token") for r in to_mine if r.path.startswith("/api/")} == {TOKEN}
        assert all(r.headers.get("authorization") for r in to_mine if ".git/" in r.path and r.status == 200)
        for request in [*other.requests, *github.log]:
            assert all(TOKEN not in value for value in request_headers(request).values())
            assert "private-token" not in request_headers(request)
        assert TOKEN not in str(failed) and TOKEN not in caplog.text
        assert "GitLab" in caplog.text or "gitlab" in caplog.text  # the GitLab calls were logged, redacted
    finally:
        other.stop()


def request_headers(request: Any) -> dict[str, str]:
    return {k.lower(): str(v) for k, v in request.headers.items()}


def test_redirects_are_not_followed(
    runner: Any, client: Any, gitlab: GitLabStandIn, sample_history: SampleHistory
) -> None:
    elsewhere = GitLabStandIn.start(token="elsewhere")
    try:
        gitlab.add_project(PATH, git_dir=bare_dir(sample_history))
        gitlab.redirect_api(f"{elsewhere.base_url}/api/v4/projects/team%2Fproj")
        _, job = add(runner, client, gitlab.git_url(PATH))
        assert job["repositories_failed"] == 1
        assert "redirect" in job["errors"][0]["error"] and TOKEN not in str(job)
        assert elsewhere.requests == []
    finally:
        elsewhere.stop()


def test_gitlab_hosts_start_private_and_other_hosts_do_not(app: Any, runner: Any, gitlab: GitLabStandIn) -> None:
    # Added but not refreshed yet (no such project: the refresh fails), a GitLab project is hidden.
    added = runner.invoke(args=["tracker", "add", gitlab.git_url("team/missing")])
    assert (added.exit_code, "completed: 1/1 repositories, 1 failed" in added.stdout) == (1, True), added.output
    with app.app_context():
        row = db.session.scalars(select(Project)).one()
        assert (row.kind, row.host, row.private) == ("git", gitlab.host, True)


def test_deleting_forgets_the_cached_gitlab_answer(
    runner: Any, app: Any, client: Any, gitlab: GitLabStandIn, sample_history: SampleHistory
) -> None:
    gitlab.add_project(PATH, git_dir=bare_dir(sample_history), star_count=6)
    repo_id, _ = add(runner, client, gitlab.git_url(PATH))
    with app.app_context():
        keys = db.session.scalars(select(HttpCacheEntry.key)).all()
        assert [k.split(" ", 1)[1] for k in keys] == [f"{gitlab.base_url}/api/v4/projects/team%2Fproj"]
    assert client.delete(f"/api/repos/{repo_id}").status_code == 204
    with app.app_context():
        assert db.session.scalars(select(HttpCacheEntry.key)).all() == []

    again, job = add(runner, client, gitlab.git_url(PATH))
    assert job["repositories_failed"] == 0
    assert [("if-none-match" in r.headers, r.status) for r in gitlab.api_requests()] == [(False, 200), (False, 200)]
    assert admin_view(client, again)["stars"] == 6


def test_rq_workers_share_the_hosts_pause_through_redis(
    rq_app: Any, rq_workers: Any, gitlab: GitLabStandIn, sample_history: SampleHistory
) -> None:
    for path in ("team/one", "team/two"):
        gitlab.add_project(path, git_dir=bare_dir(sample_history))
    gitlab.inject_rate_limit(times=1, retry_after=3600)
    runner, client = rq_app.test_cli_runner(), rq_app.test_client()
    jobs = []
    for path in ("team/one", "team/two"):
        added = runner.invoke(args=["tracker", "add", gitlab.git_url(path)])
        assert added.exit_code == 0, added.output
        jobs.append(added_job(added.stdout))
    rq_workers.start()  # one worker: the jobs run in the order they were queued
    first, second = (wait_for_job(client, job) for job in jobs)

    assert [r.status for r in gitlab.api_requests()] == [429]  # the second repository asked nothing
    for job in (first, second):
        assert job["repositories_failed"] == 1
        assert f"GitLab's rate limit on {gitlab.host} is exhausted" in job["errors"][0]["error"]
    with rq_app.app_context():  # this (web) process sees the worker's pause: it lives in Redis
        until = gitlab_governor(gitlab.host).paused_until()
        assert until is not None and until > datetime.now(UTC) + timedelta(seconds=3000)
    logs = rq_workers.logs()
    assert f"GitLab rate limit on {gitlab.host}: pausing until" in logs
    assert TOKEN not in logs and "Traceback" not in logs


def test_a_wrong_token_is_a_clean_error_without_the_token(
    make_app: Any, gitlab: GitLabStandIn, sample_history: SampleHistory
) -> None:
    wrong = "glpat-wrong-token-for-this-host"
    gitlab.add_project(PATH, git_dir=bare_dir(sample_history))
    app = make_app(GIT_HOST_TOKENS=f"{gitlab.host}={wrong}")
    _, job = add(app.test_cli_runner(), app.test_client(), gitlab.git_url(PATH))
    assert job["repositories_failed"] == 1
    assert "GitLab answered 401: 401 Unauthorized (GET " in job["errors"][0]["error"]
    assert wrong not in str(job)
    assert [(r.status, r.headers.get("private-token")) for r in gitlab.api_requests()] == [(401, wrong)]
