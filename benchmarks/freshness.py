"""Benchmark freshness: from a signed push webhook to the new commit count in GET /api/projects.

A large synthetic repository (default 60,000 commits) is tracked and refreshed once (the mirror
is then warm). Each round pushes two commits, delivers GitHub's push webhook (signed with
WEBHOOK_SECRET, over HTTP on 127.0.0.1) and times until `/api/projects` shows the new count.
Goal (issue 12): ≤ 5 s.

    .venv/bin/python benchmarks/freshness.py [--commits 60000 --files 500 --rounds 3]

The app runs as `make run` does by default (embedded: jobs in a thread of the web process),
with its own PostgreSQL and the tests' GitHub stand-in; repositories are cached in
benchmarks/.cache/ (building the 60,000-commit one takes a few minutes the first time).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.refresh import CACHE, migrate  # noqa: E402
from benchmarks.synthetic_repo import Shape, add_commit, build  # noqa: E402
from tests.servers import PostgresServer  # noqa: E402
from tests.standin.server import GitHubStandIn  # noqa: E402

SECRET = "freshness-benchmark-secret"  # noqa: S105 - a benchmark's own webhook secret
PUSH_RECORDING = ROOT / "tests" / "standin" / "recordings" / "webhooks" / "push_with-new-branch.json"
GOAL_SECONDS = 5.0
ADMIN = "bench-admin-token-0123456789"  # refreshes need the admin token


def call(port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def commits_shown(port: int) -> int:
    status, projects = call(port, "GET", "/api/projects")
    assert status == 200, projects
    return int(projects[0]["commits"])


def deliver_push(port: int, repo_id: int, head: str) -> tuple[float, int, dict[str, Any]]:
    payload = json.loads(PUSH_RECORDING.read_text())
    payload["ref"], payload["after"] = "refs/heads/main", head
    payload["repository"].update(id=repo_id, name="large", full_name="bench-owner/large", default_branch="main")
    payload["repository"]["owner"].update(login="bench-owner", name="bench-owner")
    raw = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push",
               "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": signature}  # fmt: skip
    started = time.perf_counter()
    status, body = call(port, "POST", "/api/webhooks/github", raw, headers)
    return time.perf_counter() - started, status, body


def run(bare: Path, shape: Shape, work: Path, pg: PostgresServer, rounds: int) -> list[tuple[float, float, int]]:
    from werkzeug.serving import make_server

    from app import create_app
    from infra.extensions import db

    url = pg.create_database("bench_freshness")
    migrate(url, work / "instance")
    github = GitHubStandIn.start(login="bench-owner", user_id=7, token="ghp_" + "f" * 36)
    remote = github.add_repo("large", clone_url=bare.as_uri(), languages={"Python": 1000})
    config = {
        "DATABASE_URL": url,
        "GITHUB_API_URL": github.api_url,
        "GITHUB_ACCESS_TOKEN": github.token,
        "RUN_SCHEDULER": "false",
        "CACHE_DIR": str(work / "cache"),
        "INSTANCE_PATH": str(work / "instance"),
        "REFRESH_COOLDOWN": "0",
        "LOG_LEVEL": "WARNING",
        "WEBHOOK_SECRET": SECRET,
        "ADMIN_TOKEN": ADMIN,
        "GIT_ALLOW_FILE_URLS": "true",  # the repository is served over file://
    }
    app = create_app(config)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_port
    results = []
    try:
        started = time.perf_counter()
        status, job = call(port, "POST", "/api/refresh?force=1", headers={"Authorization": f"Bearer {ADMIN}"})
        assert status == 202, (status, job)
        while call(port, "GET", f"/api/refresh/status/{job['job_id']}")[1]["status"] not in ("completed", "failed"):
            time.sleep(0.2)
        print(f"cold refresh (mirror now warm): {time.perf_counter() - started:.1f} s, {commits_shown(port)} commits")
        when = 2_000_000_000
        for _ in range(rounds):
            before = commits_shown(port)
            for _ in range(2):
                when += 60
                head = add_commit(bare, shape, when=when)
            started = time.perf_counter()
            answered, status, body = deliver_push(port, remote.id, head)
            assert status == 202 and body["outcome"] in ("queued", "coalesced"), (status, body)
            while commits_shown(port) != before + 2:
                if time.perf_counter() - started > 120:
                    raise RuntimeError("the new commits did not show up within 120 s")
                time.sleep(0.02)
            results.append((answered, time.perf_counter() - started, before + 2))
    finally:
        server.shutdown()
        thread.join(timeout=10)
        github.stop()
        with app.app_context():
            db.engine.dispose()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=60_000)
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log lines between the results
    shape = Shape(args.commits, args.files)
    source = build(shape, CACHE)
    pg = PostgresServer.start()
    work = Path(tempfile.mkdtemp(prefix="pt-fresh-"))
    try:
        bare = work / "large.git"  # a copy: the rounds add commits, the cache keeps the original
        subprocess.run(["git", "clone", "-q", "--bare", str(source), str(bare)], check=True, timeout=600)
        results = run(bare, shape, work, pg, args.rounds)
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"repository: {shape.name}; each round pushes 2 commits then delivers one signed push webhook")
    print(f"{'round':>5} {'webhook answered ms':>20} {'push → /api/projects s':>24} {'commits':>9}")
    print("-" * 62)
    for index, (answered, fresh, commits) in enumerate(results, 1):
        print(f"{index:>5} {answered * 1000:>20.1f} {fresh:>24.2f} {commits:>9}")
    worst = max(r[1] for r in results)
    median = statistics.median(r[1] for r in results)
    verdict = "met" if worst <= GOAL_SECONDS else "NOT met"
    print(f"median {median:.2f} s, worst {worst:.2f} s: goal ≤ {GOAL_SECONDS:.0f} s {verdict}")
    return 0 if worst <= GOAL_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
