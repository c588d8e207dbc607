"""Chart pages: the figures hold the metric values (checked against the recordings), empty states, assets."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from events import store
from infra.extensions import db
from models import Commit, Project, RepoUpdate, full_name_key
from reports import figures
from tests.events.events_data import REPO_NAME, created, expected_avg_time, matches, recorded_events

pytestmark = pytest.mark.sqlite
EVENTS = recorded_events()
FIGURE = re.compile(r'<script id="figure-data" type="application/json">(.*?)</script>', re.DOTALL)


def figure_of(response: Any) -> dict[str, Any] | None:
    assert response.status_code == 200
    assert response.content_type.startswith("text/html")
    found = FIGURE.search(response.get_data(as_text=True))
    return json.loads(found.group(1)) if found else None


def no_external_urls(response: Any) -> None:
    html = response.get_data(as_text=True)
    assert re.findall(r"""(?:src|href)=["'](?!/|data:)([^"']+)""", html) == []


@pytest.fixture
def recorded(app: Any) -> list[dict[str, Any]]:
    with app.app_context():
        store.store_events(EVENTS)
    return EVENTS


def add_project(app: Any, name: str, **values: Any) -> int:
    with app.app_context():
        project = Project(owner="octo-owner", name=name, full_name_key=full_name_key("octo-owner", name), **values)
        db.session.add(project)
        db.session.commit()
        return project.id


@pytest.mark.parametrize("filters", [{}, {"event_type": "PushEvent", "repository_name": REPO_NAME},
                                     {"action": "created"}])  # fmt: skip
def test_avg_time_chart_plots_each_gap_and_the_metrics_average(
    client: Any, recorded: list[dict[str, Any]], filters: dict[str, str]
) -> None:
    response = client.get("/charts/event-avg-time", query_string=filters)
    figure = figure_of(response)
    assert figure is not None
    no_external_urls(response)
    chosen = [e for e in recorded if matches(e, **filters)]
    types = sorted(t for t, n in Counter(e["type"] for e in chosen).items() if n >= 2)
    traces = {
        trace["name"].split(" ")[0] + (" avg" if trace["mode"] == "lines" else ""): trace for trace in figure["data"]
    }
    assert sorted(traces) == sorted([*types, *(f"{t} avg" for t in types)])
    for kind in types:
        times = sorted(created(e) for e in chosen if e["type"] == kind)
        assert traces[kind]["y"] == [(b - a).total_seconds() for a, b in pairwise(times)]
        average = expected_avg_time(recorded, **{**filters, "event_type": kind})["avg_time"]
        assert traces[f"{kind} avg"]["y"] == [average, average]
        assert traces[f"{kind} avg"]["line"]["dash"] == "dash"


def test_total_count_chart_has_one_bar_per_type(client: Any, recorded: list[dict[str, Any]]) -> None:
    figure = figure_of(client.get(f"/charts/events-total-count?offset=999999999&repository_name={REPO_NAME}"))
    assert figure is not None
    counts = Counter(e["type"] for e in recorded if e["repo"]["name"] == REPO_NAME)
    [bars] = figure["data"]
    assert dict(zip(bars["x"], bars["y"], strict=True)) == counts
    assert bars["y"] == sorted(bars["y"], reverse=True)


@pytest.mark.parametrize(
    "url",
    ["/charts/event-avg-time", "/charts/event-avg-time?event_type=MemberEvent",
     "/charts/events-total-count?offset=60", "/charts/projects/loc-by-language"],
)  # fmt: skip
def test_chart_pages_without_data_say_so(client: Any, app: Any, url: str) -> None:
    with app.app_context():
        store.store_events([e for e in EVENTS if e["type"] == "MemberEvent"])  # a single event: no gap
    response = client.get(url)
    assert figure_of(response) is None
    assert 'id="no-data"' in response.get_data(as_text=True)


def test_loc_by_language_stacks_languages_per_project(client: Any, app: Any) -> None:
    add_project(app, "small", loc=30, loc_by_language={"Python": 20, "Shell": 10})
    add_project(app, "big", loc=700, loc_by_language={"Go": 500, "Python": 200})
    add_project(app, "unknown")
    add_project(app, "hidden", hidden=True, loc_by_language={"C": 9})
    figure = figure_of(client.get("/charts/projects/loc-by-language"))
    assert figure is not None and figure["layout"]["barmode"] == "stack"
    bars = {trace["name"]: dict(zip(trace["x"], trace["y"], strict=True)) for trace in figure["data"]}
    assert bars == {"Go (500)": {"big": 500, "small": 0}, "Python (220)": {"big": 200, "small": 20},
                    "Shell (10)": {"big": 0, "small": 10}}  # fmt: skip


def test_commits_per_week_groups_by_iso_week(client: Any, app: Any) -> None:
    project_id = add_project(app, "tracker")
    days = [date(2024, 1, 1), date(2024, 1, 7), date(2024, 1, 8), date(2024, 1, 8), date(2024, 2, 29), date(2024, 3, 3)]
    with app.app_context():
        for index, day in enumerate(days):
            when = datetime(day.year, day.month, day.day, 23, 30, tzinfo=UTC)
            db.session.add(Commit(project_id=project_id, sha=f"{index:040x}", authored_at=when, committed_at=when,
                                  committed_day=day))  # fmt: skip
        db.session.commit()
    figure = figure_of(client.get("/charts/projects/octo-owner/tracker/commits-per-week"))
    assert figure is not None
    expected = Counter((d - timedelta(days=d.weekday())).isoformat() for d in days)
    [bars] = figure["data"]
    assert dict(zip(bars["x"], bars["y"], strict=True)) == expected == {"2024-01-01": 2, "2024-01-08": 2,
                                                                        "2024-02-26": 2}  # fmt: skip


def test_stars_chart_follows_the_recorded_history(client: Any, app: Any) -> None:
    started = datetime(2024, 1, 1, tzinfo=UTC)
    project_id = add_project(app, "tracker", stars=12, created_at=started)
    with app.app_context():
        for days, old, new in ((3, "10", "11"), (9, "11", "12")):
            db.session.add(RepoUpdate(project_id=project_id, update_type="stars", old_value=old, new_value=new,
                                      created_at=started + timedelta(days=days)))  # fmt: skip
        db.session.add(RepoUpdate(project_id=project_id, update_type="forks", old_value="1", new_value="2",
                                  created_at=started + timedelta(days=5)))  # fmt: skip
        db.session.commit()
    figure = figure_of(client.get("/charts/projects/tracker/stars"))
    assert figure is not None
    [line] = figure["data"]
    assert line["y"] == [10, 11, 12]
    assert [x[:10] for x in line["x"]] == ["2024-01-01", "2024-01-04", "2024-01-10"]


def test_project_charts_without_history_say_so_and_unknown_projects_are_404(client: Any, app: Any) -> None:
    add_project(app, "quiet", stars=4)
    stars = client.get("/charts/projects/quiet/stars")
    assert figure_of(stars) is None and "it has 4 stars now" in stars.get_data(as_text=True)
    assert figure_of(client.get("/charts/projects/quiet/commits-per-week")) is None
    missing = client.get("/charts/projects/nope/stars")
    assert (missing.status_code, missing.get_json()["error"]) == (404, "Project not found")


def test_chart_index_links_every_page(client: Any, app: Any) -> None:
    add_project(app, "tracker")
    html = client.get("/charts").get_data(as_text=True)
    for link in (
        "/charts/event-avg-time",
        "/charts/events-total-count?offset=3600",
        "/charts/projects/loc-by-language",
        "/charts/projects/octo-owner/tracker/commits-per-week",
        "/charts/projects/octo-owner/tracker/stars",
    ):
        assert f'href="{link}"' in html  # fmt: skip


def test_plotly_is_served_by_the_app(client: Any) -> None:
    with client.get("/charts/assets/plotly.min.js") as response:
        assert response.status_code == 200
        assert response.data == (figures.PLOTLY_JS_DIR / "plotly.min.js").read_bytes()
    with client.get("/charts/assets/charts.js") as response:
        assert (response.status_code, response.mimetype) == (200, "text/javascript")
    for bad in ("/charts/assets/../app.py", "/charts/assets/chart.html", "/charts/assets/widgetbundle.js"):
        assert client.get(bad).status_code == 404


def test_chart_pages_escape_what_the_query_says(client: Any, recorded: list[dict[str, Any]]) -> None:
    attack = "</script><script>alert(1)</script>"
    for url, query in (("/charts/event-avg-time", {}), ("/charts/events-total-count", {"offset": 999999999})):
        html = client.get(url, query_string={"repository_name": attack, **query}).get_data(as_text=True)
        assert "<script>alert(1)" not in html
        assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
