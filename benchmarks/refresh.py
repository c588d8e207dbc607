"""Benchmark a refresh: cold, warm, new commits (mirror on disk or an empty disk), two caches, against the floor.

The floor is what any tool must at least do for the same repositories, each step run alone:
a plain `git clone`, `git log --numstat` over the whole history, and `cloc` of the tree. It is
measured just before and just after the service's scenarios (the load of a shared machine
drifts); the cold refresh is compared with the mean of the two.

    .venv/bin/python benchmarks/refresh.py [--commits 60000 --files 2000 --fleet 200]
    .venv/bin/python benchmarks/refresh.py --commits 6000 --files 600 --small-commits 3000 --small-files 300 --fleet 0

Each scenario reports its wall time, charged GitHub calls and the peak resident memory of this
process and everything it started (git, cloc; the servers excluded: see proctree.py), sampled from /proc. The
fleet scenario tracks `--fleet` small repositories and times an unforced refresh with nothing
changed (an unchanged account list: 304).

It starts its own PostgreSQL (like the tests), serves the repositories through the GitHub
stand-in of the tests over loopback, and builds the synthetic repositories once into
benchmarks/.cache/ (the large one takes a few minutes the first time).

`--source` benchmarks a real repository instead of the large synthetic one: a bare repository
whose branch `main` is its default branch (new commits are added to it), e.g. git's own history:

    git clone --bare --single-branch -b master --no-tags <git.git> benchmarks/.cache/git.git
    git -C benchmarks/.cache/git.git branch -m master main
    git -C benchmarks/.cache/git.git symbolic-ref HEAD refs/heads/main
    git -C benchmarks/.cache/git.git repack -adb    # bitmaps, as GitHub serves
    .venv/bin/python benchmarks/refresh.py --source benchmarks/.cache/git.git --without-small --fleet 0
"""

from __future__ import annotations

import argparse
import logging
import os
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

from analysis.limits import preloadable  # noqa: E402
from benchmarks import proctree  # noqa: E402
from benchmarks.synthetic_repo import Shape, add_commit, build  # noqa: E402
from settings import Settings  # noqa: E402
from tests.servers import PostgresServer  # noqa: E402
from tests.standin.server import GitHubStandIn  # noqa: E402

CACHE = ROOT / "benchmarks" / ".cache"
MALLOC = Settings.model_fields["git_malloc"].default  # the service's GIT_MALLOC
EXCLUDED = "node_modules,dist,build,.venv,.env,.github,.idea,.vscode,__pycache__,.mypy_cache,.pytest_cache"


@dataclass
class Row:
    name: str
    seconds: float
    charged: int | None
    note: str = ""
    peak_mb: float | None = None


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, timeout=3600, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - started


def floor(bares: list[Path], work: Path, label: str = "") -> list[Row]:
    """Time a bare clone, full numstat and cloc of a checkout of every repository, each alone."""
    clone = numstat = cloc = preloaded = 0.0
    malloc = {"LD_PRELOAD": MALLOC} if preloadable(MALLOC) else None
    with proctree.PeakRss() as peak:
        for bare in bares:
            shutil.rmtree(work / f"floor-{bare.stem}.git", ignore_errors=True)
            shutil.rmtree(work / f"floor-{bare.stem}", ignore_errors=True)
            target = work / f"floor-{bare.stem}.git"
            clone += timed(["git", "clone", "-q", "--bare", bare.as_uri(), str(target)], work)
            numstat += timed(["git", "--git-dir", str(target), "log", "--numstat", "--format=%H %ct %ae"], work)
            if malloc:  # for comparison: the same log on the malloc the service gives git
                log_argv = ["git", "--git-dir", str(target), "log", "--numstat", "--format=%H %ct %ae"]
                preloaded += timed(log_argv, work, env=os.environ | malloc)
            tree = work / f"floor-{bare.stem}"
            subprocess.run(["git", "clone", "-q", str(target), str(tree)], check=True, timeout=3600)
            cloc += timed(["cloc", "--quiet", "--json", f"--exclude-dir={EXCLUDED}", "."], tree)
    return [Row(f"floor{label}: git clone --bare", clone, None),
            Row(f"floor{label}: git log --numstat (full)", numstat, None),
            Row(f"floor{label}: cloc of the tree", cloc, None),
            Row(f"floor{label}: sum", clone + numstat + cloc, None, peak_mb=peak.mb),
            *([Row(f"floor{label}: git log, GIT_MALLOC", preloaded, None, note=f"{MALLOC}; not in the sum")]
              if malloc else [])]  # fmt: skip


def migrate(url: str, instance: Path) -> None:
    env = {"DATABASE_URL": url, "INSTANCE_PATH": str(instance), "RUN_SCHEDULER": "false", "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, capture_output=True, timeout=300)  # fmt: skip


def run_refresh(client: Any, github: GitHubStandIn, *, force: bool = True) -> tuple[float, int, dict[str, Any]]:
    github.reset_log()
    started = time.perf_counter()
    job = client.post("/api/refresh?force=1" if force else "/api/refresh").get_json()
    while True:
        body = client.get(f"/api/refresh/status/{job['job_id']}").get_json()
        if body["status"] in ("completed", "failed"):
            break
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    if body["status"] != "completed" or body["repositories_failed"]:
        raise RuntimeError(f"refresh did not succeed: {body}")
    return seconds, len(github.charged_calls()), body


def make_app(url: str, github: GitHubStandIn, work: Path, cache: str) -> Any:
    from app import create_app

    return create_app(
        {
            "DATABASE_URL": url,
            "GITHUB_API_URL": github.api_url,
            "GITHUB_ACCESS_TOKEN": github.token,
            "RUN_SCHEDULER": "false",
            "CACHE_DIR": str(work / cache),
            "INSTANCE_PATH": str(work / "instance"),
            "REFRESH_COOLDOWN": "0",
            "LOG_LEVEL": "WARNING",
            "ADMIN_TOKEN": ADMIN,
            "GIT_ALLOW_FILE_URLS": "true",  # the repositories are served over file://
        }
    )


ADMIN = "bench-admin-token-0123456789"


def measured(name: str, client: Any, github: GitHubStandIn, note: str = "", *, force: bool = True) -> Row:
    with proctree.PeakRss() as peak:
        seconds, calls, _ = run_refresh(client, github, force=force)
    return Row(name, seconds, calls, note, peak.mb)


def push(bares: dict[str, Path], large: Shape, github: GitHubStandIn, count: int, when: list[int]) -> None:
    for _ in range(count):
        when[0] += 3600
        add_commit(bares["large"], large, when=when[0])
    github.update_repo("large", pushed_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when[0] + 5)))


def service_rows(bares: dict[str, Path], large: Shape, work: Path, pg: PostgresServer) -> list[Row]:
    from infra.extensions import db

    url = pg.create_database("bench_refresh")
    migrate(url, work / "instance")
    github = GitHubStandIn.start(login="bench-owner", user_id=7, token="ghp_" + "b" * 36)
    for name, bare in bares.items():
        github.add_repo(name, clone_url=bare.as_uri(), languages={"Python": 1000, "Go": 500})
    for bare in bares.values():
        for option in ("uploadpack.allowFilter", "uploadpack.allowAnySHA1InWant"):
            subprocess.run(["git", "--git-dir", str(bare), "config", option, "true"], check=True)
    app, other = make_app(url, github, work, "cache"), make_app(url, github, work, "cache-b")
    client, other_client = app.test_client(), other.test_client()
    for c in (client, other_client):
        c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {ADMIN}"
    # New commits come after the history's last one, as pushes do (the stored HEAD's date then
    # bounds a shallow fetch to the last days of history).
    last = subprocess.run(["git", "--git-dir", str(bares["large"]), "log", "-1", "--format=%ct", "main"],
                          capture_output=True, text=True, check=True, timeout=60).stdout  # fmt: skip
    when = [int(last)]
    rows = []
    try:
        server_cpu, busy = proctree.cpu_seconds(pg.process.pid), proctree.machine_busy_seconds()
        rows.append(measured("cold refresh (clone, all history, all LOC)", client, github))
        cold, server_cpu = rows[0].seconds, proctree.cpu_seconds(pg.process.pid) - server_cpu
        busy = proctree.machine_busy_seconds() - busy
        rows.append(measured("warm refresh (nothing changed)", client, github, force=False))
        push(bares, large, github, 2, when)
        rows.append(measured("2 new commits, mirror on disk", client, github))
        shutil.rmtree(work / "cache")
        push(bares, large, github, 2, when)
        rows.append(measured("2 new commits, empty disk", client, github))
        for label, c in (("b", other_client), ("a", client), ("b", other_client), ("a", client)):
            push(bares, large, github, 2, when)
            rows.append(measured(f"2 new commits, cache {label} (two caches alternating)", c, github))
        with app.app_context():
            commits = db.session.scalar(db.text("SELECT count(*) FROM commits"))
    finally:
        github.stop()
        for application in (app, other):
            with application.app_context():
                db.engine.dispose()
    # PostgreSQL shares this machine's cores here; a deployment has it on another machine.
    rows[0].note = f"{commits} commits stored at the end; PostgreSQL used {server_cpu:.1f} s of CPU"
    # How much of the machine the cold refresh kept busy: at os.cpu_count() it can only wait faster.
    rows[0].note += f"; {busy / cold:.1f} of {os.cpu_count()} cores busy"
    for row in rows[1:]:
        row.note = f"{row.seconds / cold:.1%} of cold"
    return rows


def fleet_rows(source: Path, count: int, work: Path, pg: PostgresServer) -> list[Row]:
    """Track `count` small repositories, refresh cold, then time an unforced refresh with nothing changed."""
    from infra.extensions import db

    url = pg.create_database("bench_fleet")
    migrate(url, work / "instance-fleet")
    github = GitHubStandIn.start(login="fleet-owner", user_id=8, token="ghp_" + "f" * 36)
    for index in range(count):
        github.add_repo(f"small-{index:03d}", clone_url=source.as_uri(), languages={"Python": 100},
                        pushed_at="2024-01-01T00:00:00Z")  # fmt: skip
    app = make_app(url, github, work, "cache-fleet")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {ADMIN}"
    try:
        cold = measured(f"fleet: cold refresh of {count} small repositories", client, github)
        warm = measured(f"fleet: warm refresh of {count}, nothing changed", client, github, force=False)
    finally:
        github.stop()
        with app.app_context():
            db.engine.dispose()
    warm.note = f"{warm.seconds / cold.seconds:.1%} of cold"
    return [cold, warm]


def print_table(rows: list[Row], names: list[str]) -> None:
    print(f"repositories: {', '.join(names)}")
    print(f"{'scenario':<48} {'wall s':>9} {'charged calls':>14} {'peak RSS MB':>12}  note")
    print("-" * 110)
    for row in rows:
        calls = "-" if row.charged is None else str(row.charged)
        peak = "-" if row.peak_mb is None else f"{row.peak_mb:.0f}"
        print(f"{row.name:<48} {row.seconds:>9.2f} {calls:>14} {peak:>12}  {row.note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=60_000)
    parser.add_argument("--fleet", type=int, default=200, help="Small repositories of the fleet scenario (0: none).")
    parser.add_argument("--files", type=int, default=2_000)
    parser.add_argument("--without-small", action="store_true", help="Benchmark the large repository alone.")
    parser.add_argument("--source", type=Path, help="A real bare repository (branch main) instead of the large one.")
    parser.add_argument("--small-commits", type=int, default=300, help="Commits of the second repository.")
    parser.add_argument("--small-files", type=int, default=60, help="Files of the second repository.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    large, small = Shape(args.commits, args.files), Shape(args.small_commits, args.small_files, seed=3)
    shapes = [large] if args.without_small else [large, small]
    sources = {"large": args.source.resolve() if args.source else build(large, CACHE)}
    sources |= {} if args.without_small else {"small": build(small, CACHE)}
    pg = PostgresServer.start()
    work = Path(tempfile.mkdtemp(prefix="pt-bench-"))
    try:
        # Work on copies: the benchmark adds a commit, the cache keeps the originals.
        bares = {}
        for name, source in sources.items():
            bares[name] = work / f"{name}.git"
            subprocess.run(["git", "clone", "-q", "--bare", str(source), str(bares[name])], check=True, timeout=600)
        # The floor just before and just after the service's scenarios: on a shared machine the
        # load drifts, and the cold refresh is compared with the mean of the two.
        before = floor(list(sources.values()), work, " (before)")
        rows = service_rows(bares, large, work, pg)
        rows += before + floor(list(sources.values()), work, " (after)")
        if args.fleet:
            rows += fleet_rows(build(Shape(20, 5, seed=5), CACHE), args.fleet, work, pg)
        sums = [row.seconds for row in rows if row.name.startswith("floor") and row.name.endswith(": sum")]
        total_floor = sum(sums) / len(sums)
        rows[0].note += f"; {rows[0].seconds / total_floor:.2f} x floor (mean of before and after)"
        print_table(rows, [args.source.name if args.source else large.name] + [small.name] * (len(shapes) - 1))
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
