"""`flask tracker …`: add, list, remove, status, export, admin-token against the real database."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from infra.extensions import db
from models import Commit, DeletedRepository, Project
from tests.fixtures_git import SampleHistory
from tests.refresh_helpers import refresh
from tests.repo_helpers import add_project, remote
from tests.standin.server import GitHubStandIn

COMMANDS = ["add", "list", "remove", "refresh", "status", "export", "admin-token"]


def keys(app: Any) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(select(Project.full_name_key)))


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_everywhere(runner: Any, command: str) -> None:
    result = runner.invoke(args=["tracker", *([command] if command else []), "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    if not command:
        for name in COMMANDS:
            assert name in result.output


def test_add_by_name_url_and_file_reports_each_and_fails_on_unknown(
    runner: Any, app: Any, github: GitHubStandIn, tmp_path: Path
) -> None:
    for name in ("alpha", "beta", "gamma"):
        remote(github, name)
    listing = tmp_path / "repos.txt"
    listing.write_text("# mine\n\nocto-owner/gamma\nocto-owner/missing\n", encoding="utf-8")

    host = urlsplit(github.api_url).netloc  # the stand-in's git host (derived like GITHUB_GIT_HOST)
    result = runner.invoke(
        args=["tracker", "add", "octo-owner/alpha", f"http://{host}/octo-owner/beta.git", "--from-file", str(listing)]
    )

    assert result.exit_code == 1, result.output
    assert keys(app) == ["octo-owner/alpha", "octo-owner/beta", "octo-owner/gamma"]
    added = [line for line in result.stdout.splitlines() if line.startswith("added ")]
    assert [line.split()[1] for line in added] == ["octo-owner/alpha", "octo-owner/beta", "octo-owner/gamma"]
    assert "error: octo-owner/missing: GitHub does not know the repository octo-owner/missing" in result.stderr


def test_add_rejects_bad_names_without_a_traceback(runner: Any, app: Any) -> None:
    result = runner.invoke(args=["tracker", "add", "no-slash", "ftp://example.org/a/b", "bad name/x"])

    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 3 and all(line.startswith("error: ") for line in lines), result.stderr
    assert "Traceback" not in result.output
    assert keys(app) == []


def test_add_without_repositories_is_a_usage_error(runner: Any) -> None:
    result = runner.invoke(args=["tracker", "add"])
    assert result.exit_code == 2
    assert "Give at least one repository" in result.output


def test_list_is_a_table(runner: Any, app: Any) -> None:
    a = add_project(app, "octo-owner", "alpha", loc=120, commit_count=7, stars=3, primary_language="Python")
    b = add_project(app, "other", "b", source="added")

    result = runner.invoke(args=["tracker", "list"])

    assert result.exit_code == 0
    w = max(2, len(str(a)), len(str(b)))
    assert result.output.splitlines() == [
        f"{'id':<{w}}  repository        source      language  loc  commits  stars  refreshed",
        f"{'-' * w}  ----------------  ----------  --------  ---  -------  -----  ---------",
        f"{a:<{w}}  octo-owner/alpha  discovered  Python    120  7        3      never",
        f"{b:<{w}}  other/b           added                 0    0        0      never",
    ]


def test_remove_by_name_and_id_and_unknown_exits_1(runner: Any, app: Any) -> None:
    add_project(app, "octo-owner", "alpha")
    beta = add_project(app, "octo-owner", "beta")
    add_project(app, "octo-owner", "gamma")

    result = runner.invoke(args=["tracker", "remove", "OCTO-OWNER/alpha", str(beta), "octo-owner/nope"])

    assert result.exit_code == 1
    assert result.stdout.splitlines() == ["removed octo-owner/alpha", "removed octo-owner/beta"]
    assert result.stderr.strip() == "error: 'octo-owner/nope' is not tracked"
    assert keys(app) == ["octo-owner/gamma"]
    with app.app_context():
        assert sorted(db.session.scalars(select(DeletedRepository.full_name_key))) == [
            "octo-owner/alpha",
            "octo-owner/beta",
        ]


def test_status_lists_last_jobs_newest_first(
    runner: Any, client: Any, github: GitHubStandIn, sample_history: SampleHistory
) -> None:
    github.add_repo("sample", clone_url=sample_history.url)
    first = refresh(client)
    second = refresh(client)

    result = runner.invoke(args=["tracker", "status", "--limit", "5"])

    assert result.exit_code == 0
    rows = [line.split() for line in result.output.splitlines()[2:]]
    assert [(r[0], r[1], r[4], r[5]) for r in rows] == [
        (second["id"], "completed", "1/1", "0"),
        (first["id"], "completed", "1/1", "0"),
    ]


def test_export_projects_and_commits_as_json_and_csv(
    runner: Any, app: Any, client: Any, github: GitHubStandIn, sample_history: SampleHistory, tmp_path: Path
) -> None:
    github.add_repo("sample", clone_url=sample_history.url)
    assert refresh(client)["status"] == "completed"
    history = sample_history.repo.history()

    projects = runner.invoke(args=["tracker", "export", "projects"])
    assert projects.exit_code == 0
    assert json.loads(projects.stdout) == client.get("/api/repos?per_page=100").get_json()["items"]

    out = tmp_path / "commits.csv"
    commits = runner.invoke(args=["tracker", "export", "commits", "--format", "csv", "-o", str(out)])
    assert commits.exit_code == 0
    assert commits.stderr.strip() == f"exported {len(history)} commits to {out}"
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert {r["sha"] for r in rows} == {c.sha for c in history}
    assert {r["repository"] for r in rows} == {"octo-owner/sample"}
    with app.app_context():
        stored = {c.sha: c for c in db.session.scalars(select(Commit))}
    for row in rows:
        assert int(row["churn"]) == stored[row["sha"]].churn
        assert row["subject"] == stored[row["sha"]].subject

    as_json = runner.invoke(args=["tracker", "export", "commits", "--format", "json"])
    assert sorted(c["sha"] for c in json.loads(as_json.stdout)) == sorted(c.sha for c in history)


def test_export_of_nothing_is_an_empty_array_and_bad_kind_is_usage(runner: Any) -> None:
    assert runner.invoke(args=["tracker", "export", "projects"]).stdout == "[]\n"
    assert runner.invoke(args=["tracker", "export", "things"]).exit_code == 2


def test_admin_token_names_the_file_and_never_prints_the_token(make_app: Any, config: dict[str, str]) -> None:
    app = make_app(ADMIN_TOKEN="s3cret-admin")
    result = app.test_cli_runner().invoke(args=["tracker", "admin-token"])

    assert result.exit_code == 0
    path = Path(config["INSTANCE_PATH"]) / "admin_token"
    assert result.output.splitlines() == [
        "ADMIN_TOKEN is set in the environment; write endpoints need it.",
        f"admin token file: {path} (absent)",
    ]
    assert "s3cret-admin" not in result.output
