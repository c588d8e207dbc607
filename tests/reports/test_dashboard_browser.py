"""The dashboard in headless Chromium: numbers equal the API's, sorting, filtering, charts, refresh."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from tests.api.test_cards import projects  # noqa: F401 - the fixture
from tests.conftest import wait_for
from tests.reports.test_charts_browser import CHROMIUM, browser  # noqa: F401 - the fixture

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no Chromium")]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
TOKEN = "dashboard-admin-token"
FIELDS = ["authored_loc", "loc", "commits", "active_days", "stars", "forks"]


@pytest.fixture
def admin_app(make_app: Any) -> Any:
    return make_app(ADMIN_TOKEN=TOKEN)


@pytest.fixture
def admin_url(admin_app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, admin_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def open_page(browser: Any, url: str) -> tuple[Any, Any, list[str]]:  # noqa: F811
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    context.route("**/*", lambda route: route.continue_() if urlsplit(route.request.url).hostname == "127.0.0.1"
                  else route.abort())  # fmt: skip
    page = context.new_page()
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    answer = page.goto(url, wait_until="networkidle")
    assert answer is not None and answer.status == 200
    return context, page, errors


def test_table_numbers_equal_the_api(browser: Any, admin_url: str, admin_app: Any, projects: None) -> None:  # noqa: F811
    api = {p["full_name"]: p for p in admin_app.test_client().get("/api/projects").get_json()}
    context, page, errors = open_page(browser, admin_url + "/dashboard")
    try:
        rows = page.locator("#projects tbody tr")
        shown = {}
        for index in range(rows.count()):
            row = rows.nth(index)
            shown[row.get_attribute("data-full-name")] = {
                field: int(row.locator(f'td[data-field="{field}"]').inner_text()) for field in FIELDS
            }
        assert shown == {name: {field: body[field] for field in FIELDS} for name, body in api.items()}
        assert "octo/secret" not in shown
        page.get_by_role("button", name="Commits").click()  # ascending
        page.get_by_role("button", name="Commits").click()  # descending
        first = page.locator("#projects tbody tr").first.get_attribute("data-full-name")
        assert first == max(api.values(), key=lambda p: p["commits"])["full_name"]
        page.get_by_label("Filter projects").fill("other")
        assert page.locator("#projects tbody tr:not([hidden])").count() == 1
        assert page.locator("#shown").inner_text() == "1 projects"
        page.get_by_label("Filter projects").fill("")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    finally:
        context.close()
    assert errors == []


def test_project_page_draws_its_charts(browser: Any, admin_url: str, admin_app: Any, projects: None) -> None:  # noqa: F811
    body = admin_app.test_client().get("/api/project/tracker").get_json()
    context, page, errors = open_page(browser, admin_url + "/dashboard/projects/octo/tracker")
    try:
        for field in ["authored_loc", "loc", "commits", "stars", "forks"]:
            assert int(page.locator(f'dd[data-field="{field}"]').inner_text()) == body[field]
        page.wait_for_selector("#chart-loc .main-svg", timeout=15_000)
        page.wait_for_selector("#chart-commits .main-svg", timeout=15_000)
        assert page.locator("#recent tbody tr").count() == 4
        page.screenshot(path=str(ARTIFACTS / "project.png"), full_page=True)
    finally:
        context.close()
    assert errors == []


def test_refresh_progress_advances_to_done(
    browser: Any,  # noqa: F811
    admin_url: str,
    admin_app: Any,
    github: Any,
    make_repo: Any,
) -> None:
    for name in ("alpha", "beta"):
        repo = make_repo(name)
        repo.write("main.py", "print('hi')\n")
        repo.commit("first")
        github.add_repo(name, clone_url=repo.publish())
    context, page, errors = open_page(browser, admin_url + "/dashboard")
    try:
        page.get_by_label("Admin token (kept for this browser session only)").fill(TOKEN)
        page.get_by_role("button", name="Use token").click()
        assert page.evaluate("sessionStorage.getItem('project-tracker-admin-token')") == TOKEN
        page.get_by_role("button", name="Refresh all projects").click()
        page.wait_for_function("document.getElementById('job-status').textContent.startsWith('Refresh completed')",
                               timeout=120_000)  # fmt: skip
        job = admin_app.test_client().get("/api/refresh/jobs").get_json()[0]
        assert (job["status"], job["repositories_processed"], job["progress"]) == ("completed", 2, 100.0)
        assert page.locator("#progress").get_attribute("value") == "100"
        assert page.locator("#job-status").inner_text() == "Refresh completed: 2 of 2 repositories (100%)"
        assert page.locator("#failed li").all_inner_texts() == ["None."]
        page.screenshot(path=str(ARTIFACTS / "refresh-done.png"), full_page=True)
    finally:
        context.close()
    assert errors == []


def test_failed_repositories_of_the_last_job_are_listed(
    browser: Any,  # noqa: F811
    admin_url: str,
    admin_app: Any,
    github: Any,
    make_repo: Any,
    tmp_path: Path,
) -> None:
    repo = make_repo("fine")
    repo.write("main.py", "print('hi')\n")
    repo.commit("first")
    github.add_repo("fine", clone_url=repo.publish())
    github.add_repo("gone", clone_url=(tmp_path / "missing.git").as_uri())
    headers = {"Authorization": f"Bearer {TOKEN}"}
    started = admin_app.test_client().post("/api/refresh?force=1", headers=headers).get_json()
    client = admin_app.test_client()
    wait_for(lambda: client.get(started["check_status_url"]).get_json()["status"] == "completed", timeout=600)
    job = client.get(started["check_status_url"]).get_json()
    expected = [f"{item['repository']}: {item['error']}" for item in job["errors"]]
    assert len(expected) == 1 and expected[0].split(":")[0].endswith("/gone")
    context, page, errors = open_page(browser, admin_url + "/dashboard")
    try:
        page.wait_for_function("document.querySelectorAll('#failed li').length === 1 && "
                               "!document.querySelector('#failed li').textContent.startsWith('None')")  # fmt: skip
        assert page.locator("#failed li").all_text_contents() == expected
    finally:
        context.close()
    assert errors == []
