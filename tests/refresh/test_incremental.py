"""Issue 5: refresh cost proportional to what changed, with results equal to a from-scratch run."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from analysis import gitlog, metrics
from infra.extensions import db
from models import Commit, LocBlob, Project, RepoUpdate
from tests.fixtures_git import MAILMAP_TEXT, SampleHistory
from tests.refresh_helpers import EXCLUDED_DIRS, expected_project, projects_by_name, refresh
from tests.standin.server import GitHubStandIn

pytestmark = pytest.mark.sqlite


def stored(app: Any) -> tuple[set[str], int, Project]:
    with app.app_context():
        shas = set(db.session.scalars(db.select(Commit.sha)))
        blobs = db.session.scalar(db.select(db.func.count()).select_from(LocBlob))
        project = db.session.scalar(db.select(Project))
        db.session.expunge_all()
        return shas, blobs, project


def assert_matches_scratch(client: Any, repo: Any, app: Any, tmp: Path) -> None:
    """Check stored metrics against the scripted history and a full read of the mirror's HEAD."""
    sample = projects_by_name(client)["sample"]
    expected = expected_project(repo.history(), repo.bare.as_uri(), tmp)
    assert {k: sample[k] for k in expected} == expected
    records = gitlog.read_commits(repo.bare, [repo.head()], EXCLUDED_DIRS)
    scratch = metrics.history_stats([r.committed_at for r in records], [r.churn for r in records])
    assert (sample["commits"], sample["active_days"], sample["code_churn"]) == (
        scratch.commits, scratch.active_days, scratch.code_churn)  # fmt: skip
    shas, _, _ = stored(app)
    assert shas == {r.sha for r in records}


def test_warm_refresh_costs_no_charged_call_and_no_recount(
    client: Any, app: Any, github: GitHubStandIn, tracked: SampleHistory, caplog: pytest.LogCaptureFixture
) -> None:
    before = stored(app)
    github.reset_log()
    caplog.set_level(logging.INFO)

    assert refresh(client)["status"] == "completed"

    assert github.charged_calls() == []
    conditional = github.uncharged_calls()
    # Issue 11: the unchanged list (304) says nothing was pushed: no languages call, no git, no job.
    assert [c.path for c in conditional] == ["/user/repos"]  # its owner is the token's: no /user call
    assert all(c.if_none_match and c.status == 304 for c in conditional)
    after = stored(app)
    assert after[:2] == before[:2]
    assert "octo-owner/sample: history" not in caplog.text
    assert after[2].last_refreshed_at > before[2].last_refreshed_at


def test_one_new_commit_reads_one_commit_and_counts_one_blob(
    client: Any, app: Any, github: GitHubStandIn, tracked: SampleHistory, caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:  # fmt: skip
    repo = tracked.repo
    _, blobs_before, project_before = stored(app)
    repo.write("src/new.py", "def added():\n    return 42\n")
    new = repo.commit("Add a module", at=datetime(2024, 3, 7, 9, 0, tzinfo=UTC))
    repo.publish()
    github.update_repo("sample", pushed_at=datetime(2024, 3, 7, 9, 0, 5, tzinfo=UTC))
    github.reset_log()
    caplog.set_level(logging.INFO)

    assert refresh(client)["status"] == "completed"

    assert [c.path for c in github.charged_calls()] == ["/user/repos"]  # the list changed (pushed_at)
    assert "history incremental (+1/-0), loc recounted" in caplog.text
    shas, blobs_after, project = stored(app)
    assert new.sha in shas and project.head_sha == new.sha
    assert blobs_after == blobs_before + 1  # only the new file's content was counted
    assert project.commit_count == project_before.commit_count + 1
    with app.app_context():
        kinds = {u.update_type: (u.old_value, u.new_value) for u in db.session.scalars(db.select(RepoUpdate))}
    assert kinds["new_commits"] == (str(project_before.commit_count), str(project.commit_count))
    assert kinds["loc"] == (str(project_before.loc), str(project.loc))
    assert_matches_scratch(client, repo, app, tmp_path / "scratch")


def test_force_push_rewrite_is_reconciled(
    client: Any, app: Any, github: GitHubStandIn, tracked: SampleHistory, caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:  # fmt: skip
    repo = tracked.repo
    old_head = repo.head()
    dropped = tracked.commits["c6"]
    repo.reset_hard(dropped.parents[0])
    repo.write(".mailmap", MAILMAP_TEXT)  # same .mailmap as the dropped tip: identities unchanged
    repo.write("README.md", "# Sample, rewritten\n")
    rewritten = repo.commit("Rewrite the tip", at=datetime(2024, 3, 8, 12, 0, tzinfo=UTC))
    repo.publish()
    github.update_repo("sample", pushed_at=datetime(2024, 3, 8, 12, 0, 5, tzinfo=UTC))
    caplog.set_level(logging.INFO)

    assert refresh(client)["status"] == "completed"

    assert "history reconciled (+1/-1)" in caplog.text
    shas, _, project = stored(app)
    assert old_head not in shas and dropped.sha not in shas
    assert rewritten.sha in shas and project.head_sha == rewritten.sha
    assert_matches_scratch(client, repo, app, tmp_path / "scratch")


@pytest.mark.parametrize("both_ends", [False, True], ids=["one-reader", "both-ends"])
def test_changed_exclusions_recompute_everything(
    config: dict[str, str], github: GitHubStandIn, tracked: SampleHistory, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch, both_ends: bool,
) -> None:  # fmt: skip
    from analysis import logstream
    from refresh import commit_sync
    from tests.conftest import build_app, dispose_app
    from tests.gitexpect import expected_churn

    # Two cores: a whole history is read from both ends, here the sample's 7 commits 2 at a time;
    # one core: by one git log.
    monkeypatch.setattr(commit_sync.os, "cpu_count", lambda: 2 if both_ends else 1)
    monkeypatch.setattr(logstream, "ENDS_CHUNK", 2)
    monkeypatch.setattr(logstream, "ENDS_MIN", 2)
    heads: list[str] = []
    real = logstream.stream_commits_from_both_ends
    monkeypatch.setattr(logstream, "stream_commits_from_both_ends", lambda m, h, *a: heads.append(h) or real(m, h, *a))
    app = build_app({**config, "EXCLUDED_DIRS": "node_modules"})
    caplog.set_level(logging.INFO)
    try:
        client = app.test_client()
        assert refresh(client)["status"] == "completed"
        assert "history full (+7/-0), loc recounted" in caplog.text
        assert heads == ([tracked.repo.head()] if both_ends else [])
        churn = projects_by_name(client)["sample"]["code_churn"]
        assert churn == expected_churn(tracked.repo.history(), ["node_modules"])
        assert churn != expected_churn(tracked.repo.history(), EXCLUDED_DIRS)
        records = gitlog.read_commits(tracked.repo.bare, [tracked.repo.head()], ["node_modules"])
        assert stored(app)[0] == {r.sha for r in records}
    finally:
        dispose_app(app)


def test_reset_collection_date_forgets_and_rereads_only_those(
    client: Any, app: Any, tracked: SampleHistory, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    history = tracked.repo.history()
    since = datetime(2024, 3, 4, 0, 0, tzinfo=UTC)
    later = [c for c in history if c.committed_at >= since]
    project_id = projects_by_name(client)["sample"]["id"]
    caplog.set_level(logging.INFO)

    response = client.post(f"/api/repos/{project_id}/reset-collection-date", json={"reset_from": "2024-03-04"})

    assert response.status_code == 202
    body = response.get_json()
    assert body["commits_forgotten"] == len(later) == 3
    from tests.refresh_helpers import wait_for_job

    assert wait_for_job(client, body["job_id"])["status"] == "completed"
    assert f"history reconciled (+{len(later)}/-0)" in caplog.text
    assert_matches_scratch(client, tracked.repo, app, tmp_path / "scratch")


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "reset_from"), ({"reset_from": "yesterday"}, "reset_from"), ({"reset_from": "2024-01-01", "x": 1}, "x")],
)
def test_reset_collection_date_validates(client: Any, tracked: SampleHistory, body: dict, field: str) -> None:
    project_id = projects_by_name(client)["sample"]["id"]
    response = client.post(f"/api/repos/{project_id}/reset-collection-date", json=body)
    assert response.status_code == 422
    assert field in {d["field"].split(".")[0] for d in response.get_json()["details"]}
    assert client.post("/api/repos/999/reset-collection-date", json={"reset_from": "2024-01-01"}).status_code == 404
