"""Repositories of any git host (served over real smart HTTP) or a local path: git alone, no GitHub API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from infra.extensions import db
from models import Project
from tests.fixtures_git import SampleHistory
from tests.refresh_helpers import expected_project, projects_by_name, wait_for_job
from tests.standin.server import GitHubStandIn

HOST_TOKEN = "glpat-host-only-secret-1234"


@pytest.fixture
def githost() -> Iterator[GitHubStandIn]:
    """A self-hosted git server (smart HTTP through `git http-backend`) that wants its own token."""
    server = GitHubStandIn.start(login="team", user_id=5000, token=HOST_TOKEN)
    yield server
    server.stop()


@pytest.fixture
def config(config: dict[str, str], githost: GitHubStandIn) -> dict[str, str]:
    host = urlsplit(githost.base_url).netloc
    return {**config, "GIT_HOST_TOKENS": f"{host}={HOST_TOKEN}"}


def job_of(output: str) -> str:
    """Return the refresh job id `flask tracker add` printed (it then waits: jobs run in-process)."""
    [job_id] = re.findall(r"; refresh job (\S+)$", output, flags=re.MULTILINE)
    return job_id


def bare_dir(history: SampleHistory) -> Path:
    return Path(urlsplit(history.url).path)


def test_repository_of_another_git_host_is_tracked_from_git_alone(
    runner: Any, app: Any, client: Any, github: GitHubStandIn, githost: GitHubStandIn,
    sample_history: SampleHistory, tmp_path: Path,
) -> None:  # fmt: skip
    served = githost.add_repo("proj", git_dir=bare_dir(sample_history))
    url = githost.git_url(served)
    github.reset_log()

    added = runner.invoke(args=["tracker", "add", url])
    assert added.exit_code == 0, added.output
    job_id = job_of(added.stdout)
    assert wait_for_job(client, job_id)["status"] == "completed"

    expected = expected_project(sample_history.repo.history(), sample_history.url, tmp_path / "expected")
    project = projects_by_name(client)["proj"]
    for field, value in expected.items():
        assert project[field] == value, field
    assert project["primary_language"] == max(expected["loc_by_language"], key=expected["loc_by_language"].get)
    assert (project["stars"], project["forks"]) == (0, 0)
    host = urlsplit(githost.base_url).netloc
    with app.app_context():
        row = db.session.scalars(select(Project)).one()
        assert (row.kind, row.host, row.github_id, row.owner, row.full_name_key) == (
            "git",
            host,
            None,
            "team",
            f"{host}/team/proj",
        )
    assert github.calls("/repos/team/proj") == []  # nothing asked of GitHub
    assert HOST_TOKEN not in added.output


def test_without_the_hosts_token_the_refresh_fails_without_leaking_it(
    make_app: Any, github: GitHubStandIn, githost: GitHubStandIn, sample_history: SampleHistory
) -> None:
    served = githost.add_repo("proj", git_dir=bare_dir(sample_history))
    app = make_app(GIT_HOST_TOKENS="other.example=" + HOST_TOKEN)  # configured for another host only
    client = app.test_client()
    added = app.test_cli_runner().invoke(args=["tracker", "add", githost.git_url(served)])
    job = wait_for_job(client, job_of(added.stdout))

    assert (job["status"], job["repositories_failed"]) == ("completed", 1)
    assert "git clone failed" in job["errors"][0]["error"]
    assert HOST_TOKEN not in str(job)
    # Without a job queue the command waited for the refresh it started, and tells it failed.
    assert added.exit_code == 1, added.output
    assert "completed: 1/1 repositories, 1 failed" in added.stdout
    assert HOST_TOKEN not in added.output


def test_local_paths_need_the_setting(make_app: Any, sample_history: SampleHistory) -> None:
    path = str(bare_dir(sample_history))
    refused = make_app().test_cli_runner().invoke(args=["tracker", "add", path])
    assert refused.exit_code == 1
    assert "Local repositories are not allowed (ALLOW_LOCAL_REPOSITORIES)" in refused.stderr

    app = make_app(ALLOW_LOCAL_REPOSITORIES="true")
    added = app.test_cli_runner().invoke(args=["tracker", "add", path])
    assert added.exit_code == 0, added.output
    job = wait_for_job(app.test_client(), job_of(added.stdout))
    assert job["status"] == "completed", job
    with app.app_context():
        row = db.session.scalars(select(Project)).one()
        assert (row.kind, row.host, row.clone_url, row.commit_count) == (
            "git",
            "local",
            f"file://{path}",
            len(sample_history.repo.history()),
        )


def test_same_url_twice_is_already_tracked(runner: Any, githost: GitHubStandIn, sample_history: SampleHistory) -> None:
    url = githost.git_url(githost.add_repo("proj", git_dir=bare_dir(sample_history)))
    assert runner.invoke(args=["tracker", "add", url]).exit_code == 0
    for same in (url, url.removesuffix(".git"), url.replace("/team/", "/TEAM/")):
        again = runner.invoke(args=["tracker", "add", same])
        assert again.exit_code == 1
        assert "is already tracked" in again.stderr
