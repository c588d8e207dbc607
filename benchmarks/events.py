"""Benchmark event ingestion and the event metrics on PostgreSQL (`make bench-events`).

Starts a private PostgreSQL (tests/servers.py), migrates it, stores 1,000,000 synthetic GitHub
events through the poller's own path (`store.store_events`: map, COPY straight into `events` for
batches of new events, or to a staging table and INSERT … ON CONFLICT DO NOTHING, adding to
`event_hours` and `event_repos`), then times each
metric endpoint through the app (median of 20 calls). Targets (issue 12): ≥ 30,000 events/s,
each metric ≤ 100 ms. The machine is shared: the table shows the load average, and the CPU
time ingest spent (this process + the PostgreSQL server), which the load does not inflate much.
The reader is anonymous: `--conceal` tracks the busiest repository as private, so its public
events are taken out of the per-hour counters (the visibility rule's worst case).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import text  # noqa: E402

from app import MIGRATIONS_DIR, create_app  # noqa: E402
from benchmarks import proctree  # noqa: E402
from events import store  # noqa: E402
from infra.extensions import db  # noqa: E402
from models import Project, full_name_key  # noqa: E402
from tests.servers import PostgresServer  # noqa: E402

INGEST_TARGET = 30_000  # events/s (issue 12: headroom on a busy 2-core machine)
METRIC_TARGET_MS = 100.0
BATCH = 10_000  # events handed to store_events at once (GitHub pages are 100; a backfill is larger)
REPOS = 20_000
WEIGHTS = {
    "PushEvent": 45, "CreateEvent": 12, "WatchEvent": 10, "IssueCommentEvent": 8, "PullRequestEvent": 7,
    "IssuesEvent": 4, "ForkEvent": 3, "DeleteEvent": 3, "PullRequestReviewEvent": 3,
    "PullRequestReviewCommentEvent": 2, "ReleaseEvent": 1, "GollumEvent": 0.5, "MemberEvent": 0.3,
    "CommitCommentEvent": 0.3, "PublicEvent": 0.2, "DiscussionEvent": 0.2,
}  # fmt: skip
ACTIONS = {
    "WatchEvent": ["started"], "IssuesEvent": ["opened", "closed", "reopened"], "IssueCommentEvent": ["created"],
    "PullRequestEvent": ["opened", "closed", "reopened"], "PullRequestReviewEvent": ["created"],
    "PullRequestReviewCommentEvent": ["created"], "ReleaseEvent": ["published"], "MemberEvent": ["added"],
    "DiscussionEvent": ["created"], "CommitCommentEvent": ["created"],
}  # fmt: skip
BUSY_REPO = "org-0/repo-0"


def synthetic_events(count: int, seed: int = 3) -> Iterator[dict[str, Any]]:
    """Yield GitHub-shaped events over the last 30 days; repositories follow a long-tailed popularity."""
    rng = random.Random(seed)
    types, weights = list(WEIGHTS), list(WEIGHTS.values())
    now = datetime.now(UTC)
    for index in range(count):
        kind = rng.choices(types, weights)[0]
        repo = min(int(rng.paretovariate(1.0) * 10) - 10, REPOS - 1)  # the busiest holds ~9 %
        payload: dict[str, Any] = {"action": rng.choice(ACTIONS[kind])} if kind in ACTIONS else {}
        if kind == "PushEvent":
            payload = {"push_id": index, "ref": "refs/heads/main", "head": f"{index:040x}", "before": "0" * 40}
        yield {
            "id": str(50_000_000_000 + index),
            "type": kind,
            "actor": {"id": 1000 + index % 50_000, "login": f"user-{index % 50_000}"},
            "repo": {"id": 9_000_000 + repo, "name": f"org-{repo % 997}/repo-{repo}"},
            "payload": payload,
            "public": True,
            "created_at": (now - timedelta(seconds=rng.uniform(0, 30 * 86400))).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def ingest(app: Any, count: int, size: int = BATCH) -> float:
    """Store `count` events in batches of `size`; return events per second (generation time excluded)."""
    spent, batch = 0.0, []
    with app.app_context():
        for event in synthetic_events(count):
            batch.append(event)
            if len(batch) == size:
                spent += _store(batch)
                batch = []
        if batch:
            spent += _store(batch)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE events"))  # what autovacuum does after a bulk load
    return count / spent


CPU = {"client": 0.0, "server": 0.0}  # CPU seconds spent storing (this process; PostgreSQL's processes)
SERVER_PID = [0]


def _store(batch: list[dict[str, Any]]) -> float:
    server_before, client_before = proctree.cpu_seconds(SERVER_PID[0]), time.process_time()
    started = time.perf_counter()
    result = store.store_events(batch)
    spent = time.perf_counter() - started
    CPU["client"] += time.process_time() - client_before
    CPU["server"] += proctree.cpu_seconds(SERVER_PID[0]) - server_before
    assert result.inserted == len(batch), result
    return spent


METRIC = "/api/events/metrics"
AVG, TOTAL, BUSY = f"{METRIC}/avg-time", f"{METRIC}/total-count", f"{METRIC}/multiple-events-repos"
METRICS = [
    ("avg-time, all events", AVG),
    ("avg-time, PushEvent", f"{AVG}?event_type=PushEvent"),
    ("avg-time, IssuesEvent opened", f"{AVG}?event_type=IssuesEvent&action=opened"),
    ("avg-time, one busy repo", f"{AVG}?repository_name={BUSY_REPO}"),
    ("avg-time, WatchEvent of one repo", f"{AVG}?event_type=WatchEvent&repository_name={BUSY_REPO}"),
    ("total-count, last hour", f"{TOTAL}?offset=3600"),
    ("total-count, last 30 days (all)", f"{TOTAL}?offset=2592000"),
    ("total-count, 7 days, action opened", f"{TOTAL}?offset=604800&action=opened"),
    ("total-count, 30 days, one repo", f"{TOTAL}?offset=2592000&repository_name={BUSY_REPO}"),
    ("multiple-events-repos, WatchEvent", f"{BUSY}?event_type=WatchEvent"),
    ("multiple-events-repos, PushEvent > 100", f"{BUSY}?event_type=PushEvent&minimal_events_count=100"),
    ("events list, PushEvent page 1", "/api/events?event_type=PushEvent&per_page=50"),
]


def time_metrics(app: Any, calls: int) -> list[tuple[str, str, float]]:
    """Return (name, url, median ms) of each metric request."""
    client = app.test_client()
    rows = []
    for name, url in METRICS:
        assert client.get(url).status_code == 200, url  # warm-up, and a sanity check
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            response = client.get(url)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        rows.append((name, url, statistics.median(samples)))
    return rows


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def conceal_busiest(app: Any) -> None:
    """Track the busiest repository as private: its events leave the anonymous reader's counts."""
    owner, name = BUSY_REPO.split("/")
    with app.app_context():
        db.session.add(Project(owner=owner, name=name, full_name_key=full_name_key(owner, name), private=True,
                               github_id=9_000_000))  # fmt: skip
        db.session.commit()


def report(count: int, rate: float, rows: list[tuple[str, str, float]], loads: list[str]) -> bool:
    """Print the table; return whether every target was met."""
    ok = rate >= INGEST_TARGET and all(ms <= METRIC_TARGET_MS for _, _, ms in rows)
    width = max(len(name) for name, _, _ in rows)
    cpu = CPU["client"] + CPU["server"]
    print(f"\nPostgreSQL, {count:,} synthetic events; {os.cpu_count()} CPUs, load average (1/5/15 min) "
          f"before ingest {loads[0]}, before queries {loads[1]}, after {load()}")  # fmt: skip
    print(f"{'measure':<{width}}  {'result':>14}  target")
    print(f"{'ingest (store_events)':<{width}}  {rate:>10,.0f} ev/s  >= {INGEST_TARGET:,} ev/s"
          f"  {'ok' if rate >= INGEST_TARGET else 'MISSED'}")  # fmt: skip
    print(f"{'  ingest CPU, client + server':<{width}}  {cpu / count * 1e6:>8.1f} µs/ev  "
          f"(client {CPU['client'] / count * 1e6:.1f} + PostgreSQL {CPU['server'] / count * 1e6:.1f})")  # fmt: skip
    for name, _, ms in rows:
        verdict = "ok" if ms <= METRIC_TARGET_MS else "MISSED"
        print(f"{name:<{width}}  {ms:>11.1f} ms  <= {METRIC_TARGET_MS:.0f} ms (median of calls)  {verdict}")
    return ok


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark on a throw-away PostgreSQL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--batch", type=int, default=BATCH, help="events per store_events call (the poller's: 100)")
    conceal = f"track {BUSY_REPO} (the busiest) as a private repository: the anonymous reader's worst case"
    parser.add_argument("--conceal", action="store_true", help=conceal)
    args = parser.parse_args(argv)
    server = PostgresServer.start()
    try:
        url = server.create_database("bench_events")
        instance = tempfile.mkdtemp(prefix="pt-bench-")
        app = create_app({"DATABASE_URL": url, "RUN_SCHEDULER": "false", "INSTANCE_PATH": instance,
                          "LOG_LEVEL": "WARNING"})  # fmt: skip
        with app.app_context():
            upgrade(directory=str(MIGRATIONS_DIR))
        SERVER_PID[0] = server.process.pid
        loads = [load()]
        rate = ingest(app, args.events, args.batch)
        loads.append(load())
        if args.conceal:
            conceal_busiest(app)
        ok = report(args.events, rate, time_metrics(app, args.calls), loads)
        with app.app_context():
            db.engine.dispose()
    finally:
        server.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
