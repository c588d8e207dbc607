"""`flask tracker refresh`: starts the job, follows it with a progress bar, exits by its outcome."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from infra.extensions import db
from models import Project, RefreshJob
from tests.conftest import ROOT, WorkerProcesses
from tests.gitrepos import RepoBuilder
from tests.standin.server import GitHubStandIn


def publish(make_repo: Any, name: str, commits: int) -> str:
    repo: RepoBuilder = make_repo(name)
    for i in range(commits):
        repo.write("main.py", "".join(f"x{j} = {j}\n" for j in range(i + 1)))
        repo.commit(f"step {i}", at=datetime(2024, 6, 1 + i, 12, 0, tzinfo=UTC))
    return repo.publish()


def test_refresh_all_follows_the_job_to_completion(
    runner: Any, app: Any, github: GitHubStandIn, make_repo: Any
) -> None:
    github.add_repo("one", clone_url=publish(make_repo, "one", 2))
    github.add_repo("two", clone_url=publish(make_repo, "two", 3))

    result = runner.invoke(args=["tracker", "refresh", "--interval", "0.05"])

    assert result.exit_code == 0, result.output
    with app.app_context():
        job = db.session.scalars(select(RefreshJob)).one()
        counts = dict(db.session.execute(select(Project.name, Project.commit_count)).all())
    lines = result.stdout.splitlines()
    assert lines[0] == f"started: job {job.id}"
    assert lines[-1] == "completed: 2/2 repositories, 0 failed"
    assert "2/2" in result.stdout  # the bar's last position
    assert counts == {"one": 2, "two": 3}


def test_refresh_of_named_repositories_exits_1_when_one_fails(
    runner: Any, app: Any, github: GitHubStandIn, make_repo: Any
) -> None:
    github.add_repo("good", clone_url=publish(make_repo, "good", 1))
    github.add_repo("bad", clone_url="file:///nonexistent/bad.git")
    assert runner.invoke(args=["tracker", "refresh"]).exit_code == 1  # discovers both; "bad" fails

    result = runner.invoke(args=["tracker", "refresh", "octo-owner/good", "octo-owner/bad", "--interval", "0.05"])

    assert result.exit_code == 1
    summaries = [line for line in result.stdout.splitlines() if ": 1/1 repositories" in line]
    assert summaries[0] == "completed: 1/1 repositories, 0 failed"
    assert summaries[1].startswith("completed: 1/1 repositories, 1 failed — 1 of 1 repositories failed: octo-owner/bad")
    assert "octo-owner/bad: git clone failed" in result.stderr


def test_refresh_of_unknown_repository_is_an_error(runner: Any) -> None:
    result = runner.invoke(args=["tracker", "refresh", "octo-owner/none"])
    assert result.exit_code == 1
    assert "'octo-owner/none' is not tracked" in result.output


def test_flask_tracker_refresh_follows_a_job_run_by_a_real_worker(
    rq_app: Any, rq_workers: WorkerProcesses, rq_config: dict[str, str], github: GitHubStandIn, make_repo: Any,
    tmp_path: Path,
) -> None:  # fmt: skip
    for name, commits in (("one", 1), ("two", 2), ("three", 3)):
        github.add_repo(name, clone_url=publish(make_repo, name, commits))
    rq_workers.start()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "GITHUB_ACCESS_TOKEN"}}
    env.update(rq_config)
    flask = Path(sys.executable).with_name("flask")

    done = subprocess.run(
        [str(flask), "--app", "app", "tracker", "refresh", "--interval", "0.1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr + rq_workers.logs()
    assert done.stdout.splitlines()[-1] == "completed: 3/3 repositories, 0 failed"
    status = subprocess.run(
        [str(flask), "--app", "app", "tracker", "status"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert status.returncode == 0
    row = status.stdout.splitlines()[2].split()
    assert (row[1], row[2], row[3], row[4], row[5]) == ("completed", "cli", "all", "3/3", "0")
