"""Chart pages in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright): no errors, no CDN."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from events import store
from infra.extensions import db
from models import Commit, Project, RepoUpdate, full_name_key
from tests.events.events_data import REPO_NAME, recorded_events

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "charts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def live_url(app: Any) -> Iterator[str]:
    """Serve the app over real HTTP on 127.0.0.1."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def data(app: Any) -> None:
    """Store the recorded events and a project with line counts, commits and star history."""
    with app.app_context():
        store.store_events(recorded_events())
        project = Project(owner="octo-owner", name="tracker", full_name_key=full_name_key("octo-owner", "tracker"),
                          loc=900, loc_by_language={"Python": 700, "Shell": 200}, stars=5,
                          created_at=datetime(2024, 1, 1, tzinfo=UTC))  # fmt: skip
        db.session.add(project)
        db.session.flush()
        for index in range(12):
            day = date(2024, 1, 1) + timedelta(days=5 * index)
            when = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
            db.session.add(Commit(project_id=project.id, sha=f"{index:040x}", authored_at=when, committed_at=when,
                                  committed_day=day))  # fmt: skip
        for days, stars in ((10, 3), (40, 5)):
            db.session.add(RepoUpdate(project_id=project.id, update_type="stars", old_value=str(stars - 2),
                                      new_value=str(stars), created_at=datetime(2024, 1, 1, tzinfo=UTC)
                                      + timedelta(days=days)))  # fmt: skip
        db.session.commit()


def visit(browser: Any, url: str, name: str) -> tuple[Any, Any, list[str], list[str]]:
    """Open a page; return it with every URL it asked for and every console or page error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    asked: list[str] = []
    errors: list[str] = []

    def guard(route: Any) -> None:
        asked.append(route.request.url)
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            route.abort()  # never let a request leave the machine, even a failing test's

    context.route("**/*", guard)
    page = context.new_page()
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    response = page.goto(url, wait_until="networkidle")
    assert response is not None and response.status == 200
    return context, page, asked, errors


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


CHARTS = [
    ("event-avg-time", "/charts/event-avg-time", ".scatterlayer .point"),
    ("event-avg-time-push", f"/charts/event-avg-time?event_type=PushEvent&repository_name={REPO_NAME}",
     ".scatterlayer .point"),
    ("events-total-count", "/charts/events-total-count?offset=999999999", ".barlayer .point"),
    ("loc-by-language", "/charts/projects/loc-by-language", ".barlayer .point"),
    ("commits-per-week", "/charts/projects/octo-owner/tracker/commits-per-week", ".barlayer .point"),
    ("stars", "/charts/projects/tracker/stars", ".scatterlayer .trace"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "path", "marks"), CHARTS, ids=[c[0] for c in CHARTS])
def test_chart_page_draws_its_svg_from_local_assets(
    browser: Any, live_url: str, data: None, name: str, path: str, marks: str
) -> None:
    context, page, asked, errors = visit(browser, live_url + path, name)
    try:
        page.wait_for_selector("#chart .main-svg", timeout=15_000)
        assert page.locator(f"#chart {marks}").count() > 0
        screenshot(page, name)
    finally:
        context.close()
    assert errors == []
    assert asked and all(urlsplit(url).hostname == "127.0.0.1" for url in asked), asked
    assert any(url.endswith("/charts/assets/plotly.min.js") for url in asked)


def test_empty_chart_page_says_so_in_the_browser(browser: Any, live_url: str) -> None:
    context, page, asked, errors = visit(browser, live_url + "/charts/events-total-count?offset=60", "empty")
    try:
        assert page.locator("#no-data").inner_text() == "No events match these filters."
        assert page.locator("#chart").count() == 0
        screenshot(page, "events-total-count-empty")
    finally:
        context.close()
    assert errors == []
    assert all(urlsplit(url).hostname == "127.0.0.1" for url in asked), asked
