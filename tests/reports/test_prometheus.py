"""GET /metrics: Prometheus text with values read from the database and the rate governor."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra.extensions import db
from models import Project, RefreshJob, full_name_key
from tests.refresh_helpers import refresh
from tests.standin.server import GitHubStandIn

pytestmark = pytest.mark.sqlite


def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
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
    assert charged == 4  # /user, /user/repos, languages of "counted", /repos/o/broken (404)
    assert values[("project_tracker_github_rate_remaining", ())] == 4321 - charged
    assert values[("project_tracker_github_paused", ())] == 0
    with app.app_context():
        completed = db.session.scalar(db.select(RefreshJob.completed_at).where(RefreshJob.status == "completed"))
    assert values[("project_tracker_last_refresh_completed_timestamp_seconds", ())] == pytest.approx(
        completed.timestamp()
    )
