"""SVG cards: well-formed, escaped, themed, visible projects only, ETag/304, SVG error cards."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from infra.extensions import db
from models import Commit
from reports.card_svg import THEMES
from tests.repo_helpers import add_project

NS = "{http://www.w3.org/2000/svg}"
EVIL = "</text><script>alert(1)</script> & <b>"
CARDS = ["/cards/projects/tracker.svg", "/cards/languages.svg", "/cards/summary.svg",
         "/cards/projects/tracker/activity.svg"]  # fmt: skip


@pytest.fixture
def projects(app: Any) -> None:
    last = datetime(2026, 11, 30, 12, tzinfo=UTC)
    tracker = add_project(app, "octo", "tracker", description=EVIL, stars=12345, forks=7, loc=1500, commit_count=4,
                          active_days=3, time_spent_min=150.0, loc_by_language={"Python": 1000, "Vendored JS": 500},
                          authored_loc=900, authored_loc_by_language={"Python": 800, "Shell": 100},
                          last_commit_date=last, primary_language="Python")  # fmt: skip
    add_project(app, "octo", "other-" + "x" * 90, loc=300, commit_count=2, active_days=2, time_spent_min=30.0,
                loc_by_language={"Go": 300}, authored_loc=300, authored_loc_by_language={"Go": 300})  # fmt: skip
    add_project(app, "octo", "secret", hidden=True, loc=10**6, commit_count=99, authored_loc=10**6,
                authored_loc_by_language={"Rust": 10**6})  # fmt: skip
    with app.app_context():
        monday = date.today() - timedelta(days=date.today().weekday())
        for index, day in enumerate([monday, monday, monday - timedelta(weeks=3), monday - timedelta(weeks=60)]):
            when = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
            db.session.add(Commit(project_id=tracker, sha=f"{index:040x}", authored_at=when, committed_at=when,
                                  committed_day=day))  # fmt: skip
        db.session.commit()


def texts(body: bytes) -> list[str]:
    root = ET.fromstring(body)  # noqa: S314 - our own output
    return ["".join(node.itertext()) for node in root.iter(f"{NS}text")]


@pytest.mark.parametrize("url", CARDS)
@pytest.mark.parametrize("theme", sorted(THEMES))
def test_every_card_is_well_formed_svg_in_every_theme(client: Any, projects: None, url: str, theme: str) -> None:
    response = client.get(url, query_string={"theme": theme})
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    root = ET.fromstring(response.data)  # noqa: S314
    assert root.tag == f"{NS}svg"
    rect = root.find(f"{NS}rect")
    assert rect is not None and rect.get("fill") == THEMES[theme].background


def test_description_stays_text(client: Any, projects: None) -> None:
    body = client.get("/cards/projects/tracker.svg", query_string={"width": "1000"}).data
    assert b"<script" not in body
    assert EVIL in texts(body)
    assert ET.fromstring(body).find(f".//{NS}script") is None  # noqa: S314


def test_pin_card_numbers(client: Any, projects: None) -> None:
    shown = texts(client.get("/cards/projects/tracker.svg").data)
    assert shown[0] == "tracker"
    assert {"Python", "★ 12.3K", "7 forks", "900 lines", "4 commits", "last commit 2026-11-30"} <= set(shown)
    all_lines = texts(client.get("/cards/projects/tracker.svg?lines=all&locale=de").data)
    assert "1.500 lines" in all_lines
    assert "★ 12345" in all_lines  # CLDR German has no compact form for thousands


def test_languages_card_authored_by_default_and_hides_private_work(client: Any, projects: None) -> None:
    shown = texts(client.get("/cards/languages.svg").data)
    # authored: Python 800, Go 300, Shell 100 of 1200 (the hidden project's Rust is never counted)
    assert shown[1:] == ["Python", "66.7%", "Go", "25%", "Shell", "8.3%"]
    everything = texts(client.get("/cards/languages.svg?lines=all&limit=2&hide=go").data)
    # hidden languages leave the shares too: Python 1000 and Vendored JS 500 of 1500
    assert everything[1:] == ["Python", "66.7%", "Vendored JS", "33.3%"]


def test_summary_card_totals(client: Any, projects: None) -> None:
    shown = texts(client.get("/cards/summary.svg?hide=time").data)
    assert shown[1:] == ["Projects", "2", "Lines written", "1,200", "Commits", "6", "Active days", "5"]


def test_activity_card_counts_the_last_52_weeks(client: Any, projects: None) -> None:
    body = client.get("/cards/projects/tracker/activity.svg").data
    assert "3 commits in 52 weeks" in texts(body)
    bars = ET.fromstring(body).findall(f"{NS}rect")[1:]  # noqa: S314
    assert len(bars) == 52
    assert bars[-1].find(f"{NS}title").text.endswith(": 2")


def test_long_names_are_truncated(client: Any, projects: None) -> None:
    shown = texts(client.get("/cards/projects/" + "other-" + "x" * 90 + ".svg").data)
    assert shown[0].startswith("other-xxx") and shown[0].endswith("…") and len(shown[0]) < 60


@pytest.mark.parametrize(
    ("url", "status"),
    [("/cards/projects/secret.svg", 404), ("/cards/projects/nope/activity.svg", 404),
     ("/cards/summary.svg?theme=neon", 400), ("/cards/summary.svg?width=10", 400),
     ("/cards/languages.svg?limit=x", 400), ("/cards/languages.svg?locale=zz-<b>", 400),
     ("/cards/languages.svg?locale=xx", 400), ("/cards/summary.svg?colour=red", 400)],
)  # fmt: skip
def test_errors_are_svg_cards(client: Any, projects: None, url: str, status: int) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert response.mimetype == "image/svg+xml"
    assert texts(response.data)[0] == "Card unavailable"
    assert response.headers["Cache-Control"] == "no-store"


def test_strong_etag_and_304(client: Any, projects: None, make_app: Any) -> None:
    first = client.get("/cards/summary.svg")
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert first.headers["Cache-Control"] == "public, max-age=1800"
    again = client.get("/cards/summary.svg", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert client.get("/cards/summary.svg?theme=dark", headers={"If-None-Match": etag}).status_code == 200
    other = make_app(CARD_MAX_AGE="60").test_client()
    assert other.get("/cards/summary.svg").headers["Cache-Control"] == "public, max-age=60"
