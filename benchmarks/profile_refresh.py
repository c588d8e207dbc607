"""Profile one repository's refresh: where the time of a cold or tiny incremental refresh goes.

    .venv/bin/python benchmarks/profile_refresh.py --commits 300 --files 60 --seed 3 --incremental 2

Prints, per scenario: every subprocess (git, cloc) with its start and duration and thread, their
totals, cProfile of the planning job, the repository job and the LOC thread, and the peak
resident memory of the process tree with the processes that made it up at the peak.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import benchmarks.refresh as br  # noqa: E402
from benchmarks import proctree  # noqa: E402
from benchmarks.synthetic_repo import Shape, add_commit, build  # noqa: E402
from tests.servers import PostgresServer  # noqa: E402
from tests.standin.server import GitHubStandIn  # noqa: E402

EVENTS: list[tuple[str, float, float, str]] = []
T0 = time.perf_counter()


def patch_processes() -> None:
    import analysis.gitcmd as gitcmd
    import analysis.logstream as logstream

    original = gitcmd.run_process

    def timed_run(argv, **kw):
        start = time.perf_counter()
        try:
            return original(argv, **kw)
        finally:
            name = gitcmd.trace_name(argv)
            EVENTS.append((name, start - T0, time.perf_counter() - start, threading.current_thread().name))

    gitcmd.run_process = timed_run
    orig_log = logstream._log_once

    def timed_log(mirror, args, stdin, excluded, options=()):
        start = time.perf_counter()
        try:
            yield from orig_log(mirror, args, stdin, excluded, options)
        finally:
            EVENTS.append(
                (
                    "git log (stream+parse+consumer)",
                    start - T0,
                    time.perf_counter() - start,
                    threading.current_thread().name,
                )
            )

    logstream._log_once = timed_log
    orig_tokens = logstream._tokens

    def timed_tokens(stream):
        start = time.perf_counter()
        yield from orig_tokens(stream)
        EVENTS.append(("git log output read to its end", start - T0, time.perf_counter() - start,
                       threading.current_thread().name))  # fmt: skip

    logstream._tokens = timed_tokens


PROFILES: list[cProfile.Profile] = []


def patch_profile() -> None:
    import jobs

    original = jobs.refresh_project

    def profiled(project, fresh_since=None):
        prof = cProfile.Profile()
        start = time.perf_counter()
        try:
            return prof.runcall(original, project, fresh_since)
        finally:
            EVENTS.append(("refresh_project", start - T0, time.perf_counter() - start, threading.current_thread().name))
            PROFILES.append(prof)

    jobs.refresh_project = profiled
    import analysis.loc as loc

    orig_count = loc.count_tree

    def counted(*a, **k):
        prof = cProfile.Profile()
        start = time.perf_counter()
        try:
            return prof.runcall(orig_count, *a, **k)
        finally:
            EVENTS.append(("count_tree", start - T0, time.perf_counter() - start, threading.current_thread().name))
            PROFILES.append(prof)

    loc.count_tree = counted
    orig_plan = jobs.plan_refresh

    def planned(*a, **k):
        prof = cProfile.Profile()
        start = time.perf_counter()
        try:
            return prof.runcall(orig_plan, *a, **k)
        finally:
            EVENTS.append(("plan_refresh", start - T0, time.perf_counter() - start, threading.current_thread().name))
            PROFILES.append(prof)

    jobs.plan_refresh = planned


class ProcPeak:
    """Sample per-process RSS of the tree; remember the composition at the total peak."""

    def __enter__(self):
        self.peak, self.at_peak, self.by_name = 0, [], {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _sample(self):
        rows = [(name, kb // 1024) for name, kb in proctree.rss_by_process(os.getpid())]
        total = sum(r for _, r in rows)
        if total > self.peak:
            self.peak, self.at_peak = total, rows
        for name, rss in rows:
            self.by_name[name] = max(self.by_name.get(name, 0), rss)

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.02)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def report(title: str, peak: ProcPeak, seconds: float, top: int) -> None:
    print(f"\n===== {title}: {seconds:.2f} s, peak tree {peak.peak} MB")
    print("at peak:", sorted(peak.at_peak, key=lambda r: -r[1]))
    print("max by name:", sorted(peak.by_name.items(), key=lambda r: -r[1]))
    agg: dict[str, list[float]] = {}
    for name, _start, dur, _thread in EVENTS:
        agg.setdefault(name, []).append(dur)
    for name, start, dur, thread in sorted(EVENTS, key=lambda e: e[1]):
        if dur > 0.05:
            print(f"  {start:8.2f} +{dur:7.3f}  {name:40} {thread}")
    print("totals:", {k: (len(v), round(sum(v), 3)) for k, v in sorted(agg.items(), key=lambda kv: -sum(kv[1]))})
    for prof in PROFILES:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(top)
        print(out.getvalue())
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(25)
        print(out.getvalue())
    EVENTS.clear()
    PROFILES.clear()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=60000)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--incremental", type=int, default=0, help="rounds of 1 new commit, mirror on disk")
    parser.add_argument("--empty-disk", action="store_true", help="also 2 new commits on an empty disk")
    parser.add_argument("--no-cold-profile", action="store_true")
    parser.add_argument("--second-commits", type=int, default=0, help="also track an unchanged repository")
    parser.add_argument("--force", action="store_true", help="forced refreshes (the unchanged one too)")
    parser.add_argument("--source", type=Path, help="a real bare repository (branch main): see refresh.py")
    args = parser.parse_args()
    shape = Shape(args.commits, args.files, seed=args.seed)
    source = args.source.resolve() if args.source else build(shape, br.CACHE)
    patch_processes()
    patch_profile()
    pg = PostgresServer.start()
    work = Path(tempfile.mkdtemp(prefix="pt-prof-"))
    try:
        bare = work / "large.git"
        subprocess.run(["git", "clone", "-q", "--bare", str(source), str(bare)], check=True)
        for option in ("uploadpack.allowFilter", "uploadpack.allowAnySHA1InWant"):
            subprocess.run(["git", "--git-dir", str(bare), "config", option, "true"], check=True)
        url = pg.create_database("prof")
        br.migrate(url, work / "instance")
        github = GitHubStandIn.start(login="bench-owner", user_id=7, token="ghp_" + "b" * 36)
        github.add_repo("large", clone_url=bare.as_uri(), languages={"Python": 1000})
        if args.second_commits:
            source = build(Shape(args.second_commits, max(args.second_commits // 10, 10), seed=3), br.CACHE)
            second = work / "second.git"
            subprocess.run(["git", "clone", "-q", "--bare", str(source), str(second)], check=True)
            for option in ("uploadpack.allowFilter", "uploadpack.allowAnySHA1InWant"):
                subprocess.run(["git", "--git-dir", str(second), "config", option, "true"], check=True)
            github.add_repo("second", clone_url=second.as_uri(), languages={"Go": 10})
        app = br.make_app(url, github, work, "cache")
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {br.ADMIN}"
        with ProcPeak() as peak:
            s, _calls, _ = br.run_refresh(client, github)
        report("cold", peak, s, args.top)
        last = ["git", "--git-dir", str(bare), "log", "-1", "--format=%ct", "main"]
        when = [int(subprocess.run(last, capture_output=True, text=True, check=True).stdout)]
        for i in range(args.incremental):
            when[0] += 3600
            add_commit(bare, shape, when=when[0])
            github.update_repo("large", pushed_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when[0] + 5)))
            with ProcPeak() as peak:
                s, _calls, _ = br.run_refresh(client, github, force=args.force)
            report(f"1 new commit, mirror on disk (round {i})", peak, s, args.top)
        if args.empty_disk:
            for _ in range(2):
                when[0] += 3600
                add_commit(bare, shape, when=when[0])
            github.update_repo("large", pushed_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when[0] + 5)))
            shutil.rmtree(work / "cache")
            with ProcPeak() as peak:
                s, _calls, _ = br.run_refresh(client, github)
            report("2 new commits, empty disk", peak, s, args.top)
        github.stop()
        from infra.extensions import db

        with app.app_context():
            db.engine.dispose()
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
