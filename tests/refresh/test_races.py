"""Races and small holes: reset-collection-date against a running refresh; http_cache pruned on delete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from infra.extensions import db
from models import ITEM_RUNNING, Commit, HttpCacheEntry, Project, RefreshJob, RefreshJobItem
from refresh.project import RepositoryError, refresh_project
from refresh.resets import RESET_DURING_REFRESH, RESET_WHILE_REFRESHING
from tests.fixtures_git import SampleHistory
from tests.refresh.test_incremental import assert_matches_scratch
from tests.refresh_helpers import projects_by_name, refresh, wait_for_job


def commit_count(app: Any, project_id: int) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Commit.id)).where(Commit.project_id == project_id))


def test_reset_answers_409_while_a_refresh_of_the_repository_runs(
    client: Any, app: Any, tracked: SampleHistory
) -> None:
    project_id = projects_by_name(client)["sample"]["id"]
    before = commit_count(app, project_id)
    with app.app_context():
        job = RefreshJob(scope="repo", project_id=project_id, status="running")
        db.session.add(job)
        db.session.flush()
        db.session.add(RefreshJobItem(job_id=job.id, project_id=project_id, repository="o/sample", status=ITEM_RUNNING))
        db.session.commit()
    response = client.post(f"/api/repos/{project_id}/reset-collection-date", json={"reset_from": "2024-01-01"})
    assert response.status_code == 409
    assert (response.get_json()["error"], response.get_json()["code"]) == (RESET_WHILE_REFRESHING, "conflict")
    assert commit_count(app, project_id) == before == len(tracked.repo.history())


def test_a_refresh_that_overlaps_a_reset_commits_nothing_and_the_next_one_recovers(
    client: Any, app: Any, tracked: SampleHistory, tmp_path: Path
) -> None:
    project_id = projects_by_name(client)["sample"]["id"]
    tracked.repo.write("late.py", "late = 1\n")
    tracked.repo.commit("late")
    tracked.repo.publish()
    with app.app_context():
        project = db.session.get(Project, project_id)  # the refresh has read the project: it started
        # Meanwhile a reset commits on another connection: commits forgotten, generation bumped.
        with db.engine.begin() as other:
            other.execute(text("DELETE FROM commits WHERE project_id = :p"), {"p": project_id})
            other.execute(
                update(Project)
                .where(Project.id == project_id)
                .values(head_sha=None, history_generation=Project.history_generation + 1)
            )
        with pytest.raises(RepositoryError) as caught:
            refresh_project(project)
        assert str(caught.value) == RESET_DURING_REFRESH
        db.session.rollback()
    # The stale refresh wrote nothing: without the guard it would store only "late" on top of a
    # HEAD it read before the reset, and the forgotten commits would never come back.
    assert commit_count(app, project_id) == 0
    assert refresh(client, query="?force=1")["status"] == "completed"
    assert commit_count(app, project_id) == len(tracked.repo.history())
    assert_matches_scratch(client, tracked.repo, app, tmp_path / "scratch")


def test_reset_then_refresh_reads_everything_again(client: Any, app: Any, tracked: SampleHistory) -> None:
    project_id = projects_by_name(client)["sample"]["id"]
    response = client.post(f"/api/repos/{project_id}/reset-collection-date", json={"reset_from": "2000-01-01"})
    assert response.status_code == 202
    assert response.get_json()["commits_forgotten"] == len(tracked.repo.history())
    assert wait_for_job(client, response.get_json()["job_id"])["status"] == "completed"
    assert commit_count(app, project_id) == len(tracked.repo.history())
    with app.app_context():
        assert db.session.get(Project, project_id).history_generation == 1


def test_http_cache_rows_go_with_their_repository(client: Any, app: Any, tracked: SampleHistory) -> None:
    project_id = projects_by_name(client)["sample"]["id"]
    with app.app_context():
        project = db.session.get(Project, project_id)
        project.github_id = 777
        owner, name = project.owner, project.name
        db.session.commit()
        keys = [
            f"fp https://api.example/repos/{owner}/{name}",
            f"fp https://api.example/repos/{owner}/{name}/languages",
            f"fp https://api.example/repos/{owner.upper()}/{name}?per_page=100",
            "fp https://api.example/repositories/777",
            "fp https://api.example/repositories/777/events?page=2",
        ]
        kept = [
            f"fp https://api.example/repos/{owner}/{name}x",
            f"fp https://api.example/repos/{owner}/other",
            "fp https://api.example/repositories/7770",
            "fp https://api.example/user/repos?per_page=100",
        ]
        for key in keys + kept:
            db.session.add(HttpCacheEntry(key=key, body={}))
        db.session.commit()
        stored_before = set(db.session.scalars(select(HttpCacheEntry.key)))
    assert client.delete(f"/api/repos/{project_id}").status_code == 204
    with app.app_context():
        left = set(db.session.scalars(select(HttpCacheEntry.key)))
    about_it = {key for key in stored_before if f"/repos/{owner}/{name}/" in key and key not in keys}
    assert about_it  # the refresh's own cached answers (e.g. …/languages from the stand-in)
    assert left == stored_before - set(keys) - about_it
    assert set(kept) <= left
