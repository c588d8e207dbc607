"""Benchmark GitLab metadata reads (`make bench-gitlab`): cold 200s, conditional 304s, plain requests.

Starts the GitLab stand-in (tests/standin/gitlab.py) on 127.0.0.1 with N projects and reads each
through `gh.gitlab.GitLabClient` (python-gitlab, a fresh session per call, ETag cache in memory)
twice: the first pass gets 200s and stores the ETags, the second sends `If-None-Match` and gets
304s. A plain `requests.get` per project (a new connection each, like the client) is the floor.
Prints one table row per pass.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gh.cache import MemoryConditionalCache  # noqa: E402
from gh.gitlab import GitLabClient  # noqa: E402
from gh.governor import LocalGovernor  # noqa: E402
from settings import Settings  # noqa: E402
from tests.standin.gitlab import GitLabStandIn  # noqa: E402

TOKEN = "glpat-benchmark-token"  # noqa: S105 - the stand-in's own token


def timed(calls: list[str], call: object) -> list[float]:
    spent = []
    for path in calls:
        start = time.perf_counter()
        call(path)  # type: ignore[operator]
        spent.append((time.perf_counter() - start) * 1000)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projects", type=int, default=200)
    args = parser.parse_args()
    standin = GitLabStandIn.start(token=TOKEN)
    try:
        paths = [f"group/project-{i}" for i in range(args.projects)]
        for i, path in enumerate(paths):
            standin.add_project(path, star_count=i, forks_count=i // 3, description=f"Project {i}")
        settings = Settings.from_mapping({"GIT_HOST_TOKENS": f"{standin.host}={TOKEN}", "GITLAB_HOSTS": standin.host})
        client = GitLabClient(settings, standin.host, standin.base_url, cache=MemoryConditionalCache(),
                              governor=LocalGovernor(settings.gitlab_rate_floor))  # fmt: skip
        raw_base = f"{standin.base_url}/api/v4/projects/"

        def raw(path: str) -> None:
            requests.get(raw_base + path.replace("/", "%2F"), headers={"PRIVATE-TOKEN": TOKEN}, timeout=10).json()

        rows = []
        for name, call in (("requests.get (floor)", raw), ("GitLabClient cold", client.get_project),
                           ("GitLabClient 304", client.get_project)):  # fmt: skip
            before = len(standin.requests)
            spent = timed(paths, call)
            statuses = [r.status for r in standin.requests[before:]]
            rows.append((name, len(spent), statuses.count(200), statuses.count(304), statistics.mean(spent),
                         sorted(spent)[int(len(spent) * 0.95) - 1]))  # fmt: skip
        print(f"{'pass':<22} {'calls':>6} {'200':>5} {'304':>5} {'mean ms':>8} {'p95 ms':>8}")
        for name, calls, ok, not_modified, mean, p95 in rows:
            print(f"{name:<22} {calls:>6} {ok:>5} {not_modified:>5} {mean:>8.2f} {p95:>8.2f}")
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
