"""Benchmark the cached read API against a hello-world Flask app under the same gunicorn (`make bench-http`).

Starts two gunicorn servers side by side on 127.0.0.1, both with the settings of `gunicorn.conf.py`
(1 worker x 8 threads, access log on stdout, here sent to a file): the service in its embedded
default (SQLite file, 200 projects seeded, scheduler off so no refresh runs during the load) and a
one-route hello-world Flask app. wrk (2 threads, 32 connections) loads each URL in turn; hello is
measured first and last and its mean is the reference. Goal: `/api/projects` >= 50 % of hello.

Where the time went before caching (in-process profile of GET /api/projects with 200 projects,
9.4 ms per request single-threaded, ~40 ms under 8 threads on 2 cores): ORM row loading 49 %
(of which JSON-column decoding of topics/tags/languages 14 %, UTC datetime processing 8 %), the
serializer 29 %, per-item pydantic output validation 8 %, JSON encoding 6 %, Flask/werkzeug 8 %;
the access-log redaction factory was under 1 %. Now a body is built (validated and encoded by
pydantic-core) once per change of the projects table, and each request costs one aggregate query.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app, start_embedded_services  # noqa: E402
from infra.extensions import db  # noqa: E402
from models import Project, full_name_key  # noqa: E402

PROJECTS = 200
HELLO = "hello world (Flask, same gunicorn)"
GOAL = 0.5
HELLO_APP = """
from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "Hello, World!"
"""
# The same gunicorn settings for hello, without the service's post_worker_init hook.
HELLO_CONF = """
exec(open({conf!r}).read())
del post_worker_init
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed(database_url: str, instance: Path) -> None:
    app = create_app({"DATABASE_URL": database_url, "RUN_SCHEDULER": "false", "INSTANCE_PATH": str(instance)})
    start_embedded_services(app)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    languages = ["Python", "TypeScript", "Go", "Rust", "HTML", "Shell"]
    with app.app_context():
        for i in range(PROJECTS):
            language, name = languages[i % len(languages)], f"project-{i:03d}"
            db.session.add(
                Project(
                    owner="octo-owner", name=name, full_name_key=full_name_key("octo-owner", name),
                    description=f"Project number {i}: a tool that does one thing well, with tests and docs.",
                    html_url=f"https://github.com/octo-owner/project-{i:03d}", homepage=f"https://example.org/p{i}",
                    topics=["portfolio", language.lower(), f"topic-{i % 7}"], tags=["tracked"], featured=i % 10 == 0,
                    stars=i * 3, forks=i, watchers=i * 3, open_issues=i % 5, loc=1000 + i * 37, commit_count=10 + i,
                    active_days=1 + i % 90, code_churn=5000 + i * 11, time_spent_min=60.0 * (i + 1),
                    primary_language=language, size_kb=100.0 + i, loc_by_language={language: 900 + i, "Markdown": 100},
                    first_commit_date=start + timedelta(days=i), last_commit_date=start + timedelta(days=i, hours=3),
                    pushed_at=start + timedelta(days=i, hours=4), last_refreshed_at=start + timedelta(days=i, hours=5),
                )
            )  # fmt: skip
        db.session.commit()
    with app.app_context():
        db.engine.dispose()


def start_server(args: list[str], env: dict[str, str], log: Path, port: int, ready_path: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), *args],
        cwd=ROOT, env={**os.environ, **env, "HOST": "127.0.0.1", "PORT": str(port)},
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited; see {log}")
        try:
            if requests.get(f"http://127.0.0.1:{port}{ready_path}", timeout=2).status_code == 200:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer within 60 s; see {log}")


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def wire_bytes(url: str, headers: dict[str, str]) -> tuple[int, int]:
    """Return the status and the body size as sent (compressed when asked), as wrk would get them."""
    with requests.get(url, headers={"Accept-Encoding": "identity", **headers}, timeout=10, stream=True) as response:
        return response.status_code, len(response.raw.read(decode_content=False))


def wrk(url: str, duration: int, headers: dict[str, str]) -> tuple[float, float]:
    command = ["wrk", "-t2", "-c32", f"-d{duration}s", "--latency", url]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", out, flags=re.MULTILINE).groups()
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx.group(1)} error responses\n{out}")
    return rate, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds of load per URL and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every URL (the machine is shared: medians)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        work = Path(tmp)
        database_url = f"sqlite:///{work / 'tracker.sqlite'}"
        seed(database_url, work / "instance")
        (work / "hello_app.py").write_text(HELLO_APP)
        (work / "hello_conf.py").write_text(HELLO_CONF.format(conf=str(ROOT / "gunicorn.conf.py")))
        tracker_port, hello_port = free_port(), free_port()
        service_env = {"DATABASE_URL": database_url, "RUN_SCHEDULER": "false", "INSTANCE_PATH": str(work / "instance"),
                       "LOG_LEVEL": "WARNING"}  # fmt: skip
        tracker = start_server(
            ["-c", "gunicorn.conf.py", "app:app"], service_env, work / "tracker.log", tracker_port, "/api/health"
        )
        try:
            hello = start_server(["-c", str(work / "hello_conf.py"), "--chdir", str(work), "hello_app:app"], {},
                                 work / "hello.log", hello_port, "/")  # fmt: skip
            try:
                base = f"http://127.0.0.1:{tracker_port}"
                first = requests.get(f"{base}/api/projects", headers={"Accept-Encoding": "identity"}, timeout=10)
                assert len(first.json()) == PROJECTS
                cases = [
                    (HELLO, f"http://127.0.0.1:{hello_port}/", {}),
                    ("/api/projects", f"{base}/api/projects", {}),
                    (
                        "/api/projects If-None-Match (304)",
                        f"{base}/api/projects",
                        {"If-None-Match": first.headers["ETag"]},
                    ),
                    ("/api/projects Accept-Encoding: gzip", f"{base}/api/projects", {"Accept-Encoding": "gzip"}),
                    ("/api/metrics", f"{base}/api/metrics", {}),
                    ("/api/health", f"{base}/api/health", {}),
                ]
                sizes = {name: wire_bytes(url, headers) for name, url, headers in cases}
                rounds = [
                    [(name, *wrk(url, options.duration, h)) for name, url, h in cases] for _ in range(options.rounds)
                ]
            finally:
                stop(hello)
        finally:
            stop(tracker)
    report(rounds, sizes, options)


def report(rounds: list[list[tuple[str, float, float]]], sizes: dict[str, tuple[int, int]], options: Any) -> None:
    """Print per-route medians over rounds; a share compares a route with hello of the same round."""
    print(f"\n{PROJECTS} projects; {options.rounds} rounds of wrk -t2 -c32 -d{options.duration}s per route, "
          "hello first in each round; gunicorn.conf.py (1 worker x 8 threads); medians over rounds\n")  # fmt: skip
    print("| route | status | bytes | req/s | p99 (ms) | share of hello (same round) |")
    print("|---|---|---|---|---|---|")
    shares: dict[str, float] = {}
    for index, (name, *_rest) in enumerate(rounds[0]):
        rates = [r[index][1] for r in rounds]
        p99s = [r[index][2] for r in rounds]
        shares[name] = statistics.median(r[index][1] / r[0][1] for r in rounds)
        status, size = sizes[name]
        print(f"| {name} | {status} | {size} | {statistics.median(rates):.0f} | {statistics.median(p99s):.1f} "
              f"| {shares[name]:.0%} |")  # fmt: skip
    share = shares["/api/projects"]
    print(f"\n/api/projects = {share:.0%} of hello-world (goal >= {GOAL:.0%}): {'met' if share >= GOAL else 'NOT met'}")


if __name__ == "__main__":
    main()
