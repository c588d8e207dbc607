"""GET /metrics: Prometheus text with values read from the database and the rate governor."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra.extensions import db
from models import Project, RefreshJob, full_name_key
from tests.conftest import TEST_ADMIN_TOKEN
from tests.refresh_helpers import refresh
from tests.standin.server import GitHubStandIn

pytestmark = pytest.mark.sqlite


def scrape(client: Any, headers: dict[str, str] | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def test_metrics_count_projects_jobs_and_the_github_budget(
    app: Any, client: Any, github: GitHubStandIn, make_repo: Any
) -> None:
    repo = make_repo("counted")
    repo.write("a.py", "x = 1\n")
    repo.commit("one", at=datetime(2024, 1, 1, tzinfo=UTC))
    github.add_repo("counted", clone_url=repo.publish())
    github.set_rate(remaining=4321, limit=5000)
    with app.app_context():
        db.session.add(Project(owner="o", name="broken", full_name_key=full_name_key("o", "broken"), last_error="x"))
        db.session.add(RefreshJob(status="failed", active_key=None))
        db.session.commit()

    assert refresh(client)["status"] == "completed"
    values = scrape(client)

    assert values[("project_tracker_projects", ())] == 2
    assert values[("project_tracker_projects_failing", ())] == 1
    assert values[("project_tracker_commits_stored", ())] == 1
    assert values[("project_tracker_refresh_jobs", (("status", "completed"),))] == 1
    assert values[("project_tracker_refresh_jobs", (("status", "failed"),))] == 1
    assert values[("project_tracker_refresh_jobs", (("status", "running"),))] == 0
    assert values[("project_tracker_github_rate_limit", ())] == 5000
    charged = len(github.charged_calls())
    assert charged == 3  # /user/repos, languages of "counted", /repos/o/broken (404)
    assert values[("project_tracker_github_rate_remaining", ())] == 4321 - charged
    assert values[("project_tracker_github_paused", ())] == 0
    with app.app_context():
        completed = db.session.scalar(db.select(RefreshJob.completed_at).where(RefreshJob.status == "completed"))
    assert values[("project_tracker_last_refresh_completed_timestamp_seconds", ())] == pytest.approx(
        completed.timestamp()
    )


def test_project_and_commit_counts_leave_out_what_the_reader_may_not_see(
    app: Any, client: Any, github: GitHubStandIn, make_repo: Any
) -> None:
    repo = make_repo("secret")
    for day in (1, 2):
        repo.write("a.py", f"x = {day}\n")
        repo.commit(f"day {day}", at=datetime(2024, 1, day, tzinfo=UTC))
    github.add_repo("secret", clone_url=repo.publish())
    with app.app_context():
        db.session.add(Project(owner="o", name="shown", full_name_key=full_name_key("o", "shown"), last_error="x"))
        db.session.commit()
    assert refresh(client)["status"] == "completed"
    with app.app_context():
        db.session.execute(db.update(Project).where(Project.name == "secret").values(private=True))
        db.session.execute(db.update(Project).where(Project.name == "shown").values(private=False, hidden=False))
        db.session.commit()
    names = ("project_tracker_projects", "project_tracker_projects_failing", "project_tracker_commits_stored")

    anonymous = scrape(client)
    admin = scrape(client, {"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"})

    assert [anonymous[(name, ())] for name in names] == [1, 1, 0]
    assert [admin[(name, ())] for name in names] == [2, 1, 2]
