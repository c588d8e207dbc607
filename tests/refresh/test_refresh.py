"""The refresh pipeline end to end: stand-in GitHub over HTTP, real git repositories, real cloc."""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infra.extensions import db
from models import Commit, Project, RefreshJob
from tests.fixtures_git import SampleHistory
from tests.gitrepos import RepoBuilder
from tests.refresh_helpers import expected_project, projects_by_name, refresh
from tests.standin.faults import not_found, rate_limit_primary, server_error, status, unauthorized
from tests.standin.server import GitHubStandIn

pytestmark = pytest.mark.sqlite

LANGUAGES = {"Python": 5000, "JavaScript": 1200, "Go": 300}


def publish_simple(make_repo: Any, name: str, commits: int = 3) -> RepoBuilder:
    repo = make_repo(name)
    for i in range(commits):
        repo.write("main.py", "".join(f"x{j} = {j}\n" for j in range(i + 1)))
        repo.commit(f"step {i}", at=datetime(2024, 6, 1 + i, 12, 0, tzinfo=UTC))
    repo.publish()
    return repo


def test_refresh_computes_seed_004_metrics_from_git(
    client: Any, app: Any, github: GitHubStandIn, sample_history: SampleHistory, make_repo: Any, tmp_path: Path
) -> None:
    github.add_repo("sample", clone_url=sample_history.url, languages=LANGUAGES, size=1234,
                    stargazers_count=5, description="Sample")  # fmt: skip
    github.add_repo("a-fork", fork=True, clone_url=sample_history.url)
    github.add_user("someone-else")
    github.add_repo("someone-else/theirs", member="collaborator", clone_url=sample_history.url)

    job = refresh(client)

    assert job["status"] == "completed", job
    assert (job["repositories_processed"], job["total_repositories"], job["progress"]) == (1, 1, 100.0)
    projects = projects_by_name(client)
    assert set(projects) == {"sample"}
    sample = projects["sample"]
    history = sample_history.repo.history()
    expected = expected_project(history, sample_history.url, tmp_path / "expected")
    for field, value in expected.items():
        assert sample[field] == value, field
    assert sample["primary_language"] == "Python"
    assert sample["repository_size_kb"] == "1234.0"
    assert sample["stars"] == 5
    with app.app_context():
        project = db.session.scalar(db.select(Project))
        stored = {c.sha for c in db.session.scalars(db.select(Commit))}
    assert stored == {c.sha for c in history}
    assert project.head_sha == sample_history.repo.head()


def test_empty_repository_is_recorded_and_does_not_stop_the_others(
    client: Any, github: GitHubStandIn, make_repo: Any
) -> None:
    empty = make_repo("empty")
    github.add_repo("empty", clone_url=empty.publish())
    simple = publish_simple(make_repo, "simple")
    github.add_repo("simple", clone_url=simple.publish(), languages={"Python": 10})

    job = refresh(client)

    assert job["status"] == "completed"
    assert job["repositories_processed"] == 2
    assert job["repositories_failed"] == 0
    assert job["errors"] == [
        {"repository": "octo-owner/empty", "error": "Repository is empty: no commits on its default branch",
         "status": "skipped"},
    ]  # fmt: skip
    projects = projects_by_name(client)
    assert projects["empty"]["commits"] == 0
    assert projects["empty"]["last_finished"] == "Never"
    assert projects["simple"]["commits"] == 3


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (not_found(), "Not Found"),
        (server_error(502), "502"),
    ],
    ids=["404", "5xx"],
)
def test_github_failure_of_one_repository_is_recorded(
    client: Any, github: GitHubStandIn, make_repo: Any, fault: Any, message: str
) -> None:
    ok = publish_simple(make_repo, "fine")
    bad = publish_simple(make_repo, "broken")
    github.add_repo("fine", clone_url=ok.publish())
    github.add_repo("broken", clone_url=bad.publish())
    github.inject("/repos/octo-owner/broken/languages", fault, times=None)

    job = refresh(client)

    assert job["status"] == "completed"
    assert (job["repositories_processed"], job["repositories_failed"]) == (2, 1)
    [error] = job["errors"]
    assert error["repository"] == "octo-owner/broken"
    assert message.lower() in error["error"].lower()
    assert job["error_message"] == "1 of 2 repositories failed: octo-owner/broken"
    assert projects_by_name(client)["fine"]["commits"] == 3


def test_exhausted_rate_limit_pauses_github_work_and_keeps_stored_metrics(
    client: Any, github: GitHubStandIn, make_repo: Any
) -> None:
    for name in ("one", "two"):
        github.add_repo(name, clone_url=publish_simple(make_repo, name).publish(), languages={"Python": 1})
    assert refresh(client)["status"] == "completed"
    github.inject("/repos/octo-owner/one/languages", rate_limit_primary(reset_in=3600), times=None)

    job = refresh(client, query="?force=1")

    assert job["status"] == "completed", job
    # The pause stops every repository's GitHub work from then on; "two" may have finished before.
    failed = {e["repository"]: e["error"] for e in job["errors"]}
    assert "octo-owner/one" in failed, job
    assert job["repositories_failed"] == len(failed), job
    assert all("paused until" in e and "primary rate limit" in e for e in failed.values()), failed
    projects = projects_by_name(client)
    assert projects["one"]["commits"] == projects["two"]["commits"] == 3
    health = client.get("/api/health").get_json()["github"]["rate_limit"]
    assert health["remaining"] == 0
    assert health["paused_until"] is not None


def test_clone_failure_is_recorded(client: Any, github: GitHubStandIn, tmp_path: Path) -> None:
    github.add_repo("ghost", clone_url=f"file://{tmp_path}/does-not-exist.git")
    job = refresh(client)
    assert job["status"] == "completed"
    [error] = job["errors"]
    assert error["status"] == "failed"
    assert "git clone failed" in error["error"]


def test_bad_credentials_fail_the_job_clearly(client: Any, github: GitHubStandIn) -> None:
    github.inject("/user/repos", unauthorized(), times=None)
    job = refresh(client)
    assert job["status"] == "failed"
    assert job["error_message"].startswith("Refresh failed:")
    assert "401" in job["error_message"] or "credentials" in job["error_message"].lower()


def test_missing_token_serves_and_fails_refresh_clearly(config: dict[str, str], github: GitHubStandIn) -> None:
    from tests.conftest import build_app, dispose_app

    app = build_app({**config, "GITHUB_ACCESS_TOKEN": ""})
    try:
        client = app.test_client()
        assert client.get("/api/health").get_json()["github"]["token_configured"] is False
        job = refresh(client)
        assert job["status"] == "failed"
        assert job["error_message"] == "Refresh failed: GITHUB_ACCESS_TOKEN is not set: cannot discover repositories"
        assert client.get("/api/projects").get_json() == []
    finally:
        dispose_app(app)


def test_token_never_leaks_through_git_or_github_errors(
    client: Any, app: Any, github: GitHubStandIn, make_repo: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    served = publish_simple(make_repo, "served")
    github.add_repo("served", git_dir=served.bare, languages={"Python": 1})
    github.add_repo("missing-on-disk", git_dir=served.bare.parent / "nope.git")
    github.inject("/repos/octo-owner/served/languages", server_error(500), times=None)

    job = refresh(client)

    assert job["status"] == "completed"
    assert job["repositories_failed"] == 2
    token = github.token
    bodies = [client.get(f"/api/refresh/status/{job['job_id'] if 'job_id' in job else job['id']}").get_data(True),
              client.get("/api/projects").get_data(True), client.get("/api/refresh/jobs").get_data(True)]  # fmt: skip
    with app.app_context():
        stored = [p.last_error or "" for p in db.session.scalars(db.select(Project))]
        stored += [j.error_message or "" for j in db.session.scalars(db.select(RefreshJob))]
    logs = [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    for text in bodies + stored + logs:
        assert token not in text
        assert token[4:] not in text
    assert any("git" in s.lower() for s in stored), stored


def test_loc_falls_back_to_pygount_when_cloc_is_missing(
    client: Any, github: GitHubStandIn, make_repo: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pygount import SourceAnalysis

    from tests.gitrepos import clone_checkout

    repo = make_repo("nocloc")
    repo.write_many({"app.py": "import os\n\n# comment\nprint(os.sep)\n", "web/ui.js": "const a = 1;\nexport { a };\n",
                     "cmd/main.go": 'package main\n\nfunc main() {\n\tprintln("hi")\n}\n'})  # fmt: skip
    repo.commit("three languages", at=datetime(2024, 2, 1, tzinfo=UTC))
    github.add_repo("nocloc", clone_url=repo.publish())
    bin_dir = tmp_path / "bin-without-cloc"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(shutil.which("git"))
    monkeypatch.setenv("PATH", str(bin_dir))  # git only: cloc is not installed as far as the service can see

    job = refresh(client)

    assert job["status"] == "completed", job
    checkout = clone_checkout(repo.bare.as_uri(), tmp_path / "checkout")
    expected: dict[str, int] = {}
    for path in sorted(p for p in checkout.rglob("*") if p.is_file()):
        analysis = SourceAnalysis.from_file(str(path), "")
        expected[analysis.language] = expected.get(analysis.language, 0) + analysis.source_count
    project = projects_by_name(client)["nocloc"]
    assert project["loc_by_language"] == expected
    assert project["loc"] == sum(expected.values()) == 7  # pygount: 2 Python, 2 JavaScript, 3 Go


def test_discovery_asks_who_the_token_is_only_when_the_list_mixes_owners(app: Any, github: GitHubStandIn) -> None:
    import requests

    from refresh.discovery import discover

    github.add_repo("mine", clone_url="https://github.invalid/octo-owner/mine.git")
    github.add_repo("someone-else/theirs", clone_url="https://github.invalid/someone-else/theirs.git")
    auth = {"Authorization": f"Bearer {github.token}"}
    [mine] = requests.get(github.url("/user/repos"), params={"type": "owner"}, headers=auth, timeout=30).json()
    theirs = requests.get(github.url("/repos/someone-else/theirs"), headers=auth, timeout=30).json()
    github.reset_log()
    with app.app_context():
        assert [p.name for p in discover()] == ["mine"]
        assert [c.path for c in github.calls()] == ["/user/repos"]  # one owner: the list says who the token is
        github.inject("/user/repos", status(200, [theirs, mine]))
        github.reset_log()
        assert [p.name for p in discover()] == ["mine"]
        assert [c.path for c in github.calls()] == ["/user/repos", "/user"]
        assert db.session.scalar(db.select(db.func.count()).select_from(Project)) == 1
