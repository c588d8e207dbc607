"""Time each SVG card rendered from stored data (the goal: ≤ 5 ms a card).

Run: .venv/bin/python -m benchmarks.cards  (uses an SQLite file under a temporary directory).
Prints a table: card, median and 95th percentile over the runs, in milliseconds, with 200 projects.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

from app import create_app
from infra.extensions import db
from models import Commit, Project, full_name_key

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


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        app = create_app({"DATABASE_URL": f"sqlite:///{scratch}/bench.db", "CACHE_DIR": scratch})
        with app.app_context():
            db.create_all()
            seed()
        client = app.test_client()
        urls = ["/cards/projects/project-0.svg", "/cards/languages.svg", "/cards/summary.svg",
                "/cards/projects/project-0/activity.svg"]  # fmt: skip
        print(f"{'card':45} {'median ms':>10} {'p95 ms':>10}   ({PROJECTS} projects, {RUNS} runs, whole HTTP request)")
        for url in urls:
            assert client.get(url).status_code == 200
            times = []
            for _ in range(RUNS):
                began = time.perf_counter()
                client.get(url)
                times.append((time.perf_counter() - began) * 1000)
            p95 = statistics.quantiles(times, n=20)[-1]
            print(f"{url:45} {statistics.median(times):10.2f} {p95:10.2f}")


if __name__ == "__main__":
    main()
