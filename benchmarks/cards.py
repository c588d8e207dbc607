"""Time each SVG card rendered from stored data (the goal: ≤ 5 ms a card).

Run: .venv/bin/python -m benchmarks.cards  (uses an SQLite file under a temporary directory).
Prints a table: card, median and 95th percentile over the runs, in milliseconds, with 200 projects:
the whole HTTP request (database read included), and drawing alone from the loaded rows.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

from app import create_app
from infra.extensions import db
from models import Commit, Project, full_name_key
from reports import cards, series
from reports.card_svg import parse_options
from reports.projects import find_project, visible_projects

PROJECTS = 200
RUNS = 200
LANGUAGES = ["Python", "JavaScript", "Go", "Rust", "Shell", "C", "TypeScript", "HTML", "CSS", "Ruby"]


def seed() -> None:
    start = datetime(2025, 12, 1, tzinfo=UTC)
    for index in range(PROJECTS):
        by_language = {LANGUAGES[(index + k) % len(LANGUAGES)]: 1000 * (k + 1) + index for k in range(4)}
        name = f"project-{index}"
        project = Project(owner="bench", name=name, full_name_key=full_name_key("bench", name),
                          description="A benchmark project with a fairly long description " * 2, stars=index * 13,
                          forks=index, loc=sum(by_language.values()), loc_by_language=by_language,
                          authored_loc=sum(by_language.values()), authored_loc_by_language=by_language,
                          commit_count=300, active_days=120, time_spent_min=9000.0, last_commit_date=start)  # fmt: skip
        db.session.add(project)
    db.session.flush()
    first = db.session.scalar(db.select(Project).where(Project.name == "project-0"))
    for day in range(300):
        when = start + timedelta(days=day)
        db.session.add(Commit(project_id=first.id, sha=f"{day:040x}", authored_at=when, committed_at=when,
                              committed_day=when.date()))  # fmt: skip
    db.session.commit()


def timed(call: object) -> tuple[float, float]:
    """Return the median and 95th percentile of RUNS calls, in ms."""
    times = []
    for _ in range(RUNS):
        began = time.perf_counter()
        call()  # type: ignore[operator]
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), statistics.quantiles(times, n=20)[-1]


def drawing(app: object) -> dict[str, object]:
    """Return a drawing call per card over rows loaded once (the request's work less the database read)."""
    options = parse_options({}, default_width=400, default_limit=6)
    with app.app_context():  # type: ignore[attr-defined]
        rows = visible_projects()
        one = find_project("project-0")
        weeks = series.commits_per_week(one.id)
        return {
            "/cards/projects/project-0.svg": lambda: cards.project_card(one, options),
            "/cards/languages.svg": lambda: cards.languages_card(rows, options),
            "/cards/summary.svg": lambda: cards.summary_card(rows, options),
            "/cards/projects/project-0/activity.svg": lambda: cards.activity_card(one, weeks, options),
        }


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        app = create_app({"DATABASE_URL": f"sqlite:///{scratch}/bench.db", "CACHE_DIR": scratch})
        with app.app_context():
            db.create_all()
            seed()
        client = app.test_client()
        urls = ["/cards/projects/project-0.svg", "/cards/languages.svg", "/cards/summary.svg",
                "/cards/projects/project-0/activity.svg"]  # fmt: skip
        draw = drawing(app)
        print(f"{PROJECTS} projects, {RUNS} runs; milliseconds (goal: drawing a card <= 5 ms)")
        print(f"{'card':42} {'request p50':>12} {'request p95':>12} {'drawing p50':>12} {'drawing p95':>12}")
        for url in urls:
            assert client.get(url).status_code == 200
            request = timed(lambda url=url: client.get(url))
            drawn = timed(draw[url])
            print(f"{url:42} {request[0]:12.2f} {request[1]:12.2f} {drawn[0]:12.2f} {drawn[1]:12.2f}")
        page = timed(lambda: client.get("/dashboard"))
        print(f"{'/dashboard (server side, goal: first render < 1 s)':42} {page[0]:12.2f} {page[1]:12.2f}")


if __name__ == "__main__":
    main()
