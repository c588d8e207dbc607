"""Benchmark a refresh: cold, warm (nothing changed), after one new commit, against the floor.

The floor is what any tool must at least do for the same repositories, each step run alone:
a plain `git clone`, `git log --numstat` over the whole history, and `cloc` of the tree.

    .venv/bin/python benchmarks/refresh.py [--commits 20000 --files 2000]

It starts its own PostgreSQL (like the tests), serves the repositories through the GitHub
stand-in of the tests over loopback, and builds the synthetic repositories once into
benchmarks/.cache/ (the large one takes a few minutes the first time).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.synthetic_repo import Shape, add_commit, build  # noqa: E402
from tests.servers import PostgresServer  # noqa: E402
from tests.standin.server import GitHubStandIn  # noqa: E402

CACHE = ROOT / "benchmarks" / ".cache"
EXCLUDED = "node_modules,dist,build,.venv,.env,.github,.idea,.vscode,__pycache__,.mypy_cache,.pytest_cache"


@dataclass
class Row:
    name: str
    seconds: float
    charged: int | None
    note: str = ""


def timed(argv: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, timeout=3600, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def floor(bares: list[Path], work: Path) -> list[Row]:
    """Time clone, full numstat and cloc of every repository, each alone."""
    clone = numstat = cloc = 0.0
    for bare in bares:
        target = work / f"floor-{bare.stem}"
        clone += timed(["git", "clone", "-q", bare.as_uri(), str(target)], work)
        numstat += timed(["git", "log", "--numstat", "--format=%H %ct %ae"], target)
        cloc += timed(["cloc", "--quiet", "--json", f"--exclude-dir={EXCLUDED}", "."], target)
    return [Row("floor: git clone", clone, None), Row("floor: git log --numstat (full)", numstat, None),
            Row("floor: cloc of the tree", cloc, None), Row("floor: sum", clone + numstat + cloc, None)]  # fmt: skip


def migrate(url: str, instance: Path) -> None:
    env = {"DATABASE_URL": url, "INSTANCE_PATH": str(instance), "RUN_SCHEDULER": "false", "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, capture_output=True, timeout=300)  # fmt: skip


def run_refresh(client: Any, github: GitHubStandIn) -> tuple[float, int, dict[str, Any]]:
    github.reset_log()
    started = time.perf_counter()
    job = client.post("/api/refresh?force=1").get_json()
    while True:
        body = client.get(f"/api/refresh/status/{job['job_id']}").get_json()
        if body["status"] in ("completed", "failed"):
            break
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    if body["status"] != "completed" or body["repositories_failed"]:
        raise RuntimeError(f"refresh did not succeed: {body}")
    return seconds, len(github.charged_calls()), body


def service_rows(bares: dict[str, Path], large: Shape, work: Path, pg: PostgresServer) -> list[Row]:
    from app import create_app
    from infra.extensions import db

    url = pg.create_database("bench_refresh")
    migrate(url, work / "instance")
    github = GitHubStandIn.start(login="bench-owner", user_id=7, token="ghp_" + "b" * 36)
    for name, bare in bares.items():
        github.add_repo(name, clone_url=bare.as_uri(), languages={"Python": 1000, "Go": 500})
    app = create_app(
        {
            "DATABASE_URL": url,
            "GITHUB_API_URL": github.api_url,
            "GITHUB_ACCESS_TOKEN": github.token,
            "RUN_SCHEDULER": "false",
            "CACHE_DIR": str(work / "cache"),
            "INSTANCE_PATH": str(work / "instance"),
            "REFRESH_COOLDOWN": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    client = app.test_client()
    try:
        cold, cold_calls, _ = run_refresh(client, github)
        warm, warm_calls, _ = run_refresh(client, github)
        add_commit(bares["large"], large, when=2_000_000_000)
        github.update_repo("large", pushed_at="2033-05-18T03:33:20Z")
        one, one_calls, _ = run_refresh(client, github)
        with app.app_context():
            commits = db.session.scalar(db.text("SELECT count(*) FROM commits"))
    finally:
        github.stop()
        with app.app_context():
            db.engine.dispose()
    return [
        Row("cold refresh (clone, all history, all LOC)", cold, cold_calls, f"{commits - 1} commits stored"),
        Row("warm refresh (nothing changed)", warm, warm_calls, f"{warm / cold:.1%} of cold"),
        Row("refresh after one new commit", one, one_calls, f"{one / cold:.1%} of cold"),
    ]


def print_table(rows: list[Row], shapes: list[Shape]) -> None:
    print(f"repositories: {', '.join(s.name for s in shapes)}")
    print(f"{'scenario':<45} {'wall s':>9} {'charged calls':>14}  note")
    print("-" * 90)
    for row in rows:
        calls = "-" if row.charged is None else str(row.charged)
        print(f"{row.name:<45} {row.seconds:>9.2f} {calls:>14}  {row.note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=20_000)
    parser.add_argument("--files", type=int, default=2_000)
    parser.add_argument("--without-small", action="store_true", help="Benchmark the large repository alone.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    large, small = Shape(args.commits, args.files), Shape(300, 60, seed=3)
    shapes = [large] if args.without_small else [large, small]
    sources = {"large": build(large, CACHE)} | ({} if args.without_small else {"small": build(small, CACHE)})
    pg = PostgresServer.start()
    work = Path(tempfile.mkdtemp(prefix="pt-bench-"))
    try:
        # Work on copies: the benchmark adds a commit, the cache keeps the originals.
        bares = {}
        for name, source in sources.items():
            bares[name] = work / f"{name}.git"
            subprocess.run(["git", "clone", "-q", "--bare", str(source), str(bares[name])], check=True, timeout=600)
        rows = service_rows(bares, large, work, pg)
        rows += floor(list(sources.values()), work)
        total_floor = rows[-1].seconds
        rows[0].note += f"; {rows[0].seconds / total_floor:.2f} x floor"
        print_table(rows, shapes)
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
