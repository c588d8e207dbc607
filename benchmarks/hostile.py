"""Benchmark the worst repository we can build in a few MB compressed, refreshed through the service.

    .venv/bin/python benchmarks/hostile.py [--bomb-mb 60 --near-mb 7 --files 20000]

The repository: one commit adding a file of `--bomb-mb` MB of newlines (over LARGE_FILE_BYTES,
so binary by design), one adding a source file of newlines just under the threshold (the most
a file can still cost to diff and count), `--files` small files, a 200-level deep path, names
with control characters and invalid UTF-8, a symlink, a submodule entry and a commit with
unparsable dates. It is refreshed by the real pipeline (embedded mode, PostgreSQL, the GitHub
stand-in); a sampler reads the resident memory of this process and all its descendants (git,
cloc) from /proc every 10 ms, PostgreSQL's process tree excluded. Target: the refresh completes
and the peak stays under MAX_WORKER_MEMORY_MB (512).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.refresh import migrate  # noqa: E402
from tests.servers import PostgresServer  # noqa: E402
from tests.standin.server import GitHubStandIn  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def git(work: Path, *args: str, input: bytes | None = None) -> str:
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "H", "GIT_AUTHOR_EMAIL": "h@example.com", "GIT_COMMITTER_NAME": "H",
           "GIT_COMMITTER_EMAIL": "h@example.com"}  # fmt: skip
    done = subprocess.run(["git", *args], cwd=work, env=env, input=input, capture_output=True, check=True)
    return done.stdout.decode()


def build(root: Path, bomb_mb: int, near_mb: float, files: int) -> Path:
    """Build the hostile repository under root and return its bare copy."""
    work = root / "work"
    work.mkdir(parents=True)
    git(work, "init", "-q", "-b", "main")
    (work / "app.py").write_text("x = 1\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "start")
    with open(work / "bomb.txt", "wb") as handle:
        handle.write(b"\n" * (bomb_mb * 1024 * 1024))
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "newline bomb")
    if near_mb:
        (work / "near.py").write_bytes(b"\n" * int(near_mb * 1024 * 1024))
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", "just under the threshold")
    many = work / "many"
    many.mkdir()
    for index in range(files):
        (many / f"f{index}.py").write_text(f"v{index} = {index}\n")
    deep = work.joinpath(*(["d"] * 200))
    deep.mkdir(parents=True)
    (deep / "deep.py").write_text("deep = 1\n")
    (work / "tab\there\nnewline.py").write_text("t = 1\n")
    (work / os.fsdecode(b"latin1-\xe9.py")).write_text("l = 1\n")
    os.symlink("/etc/passwd", work / "link.py")
    git(work, "add", "-A")
    git(work, "update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},vendor/sub")
    git(work, "commit", "-q", "-m", "many files, odd names, symlink, submodule")
    tree = git(work, "rev-parse", "HEAD^{tree}").strip()
    body = f"tree {tree}\nparent {git(work, 'rev-parse', 'HEAD').strip()}\nauthor A <a@x> nonsense\n"
    body += "committer C <c@x> 99999999999999999999 +0000\n\nbad dates\n"
    sha = git(work, "hash-object", "-t", "commit", "-w", "--stdin", "--literally", input=body.encode()).strip()
    git(work, "update-ref", "refs/heads/main", sha)
    bare = root / "hostile.git"
    git(root, "clone", "-q", "--bare", str(work), str(bare))
    git(bare, "gc", "-q", "--aggressive")
    return bare


def tree_pids(top: int, skip: set[int]) -> list[int]:
    """Return `top` and its descendants (from /proc/*/stat), leaving out the subtrees of `skip`."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [top]
    while stack:
        pid = stack.pop()
        if pid in skip:
            continue
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


class Sampler:
    """Sample the process tree's total RSS every 10 ms in a thread; keep the peak."""

    def __init__(self, skip: set[int]) -> None:
        self.skip, self.peak, self.samples = skip, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(tree_pids(os.getpid(), self.skip)))
            self.samples += 1
            self._stop.wait(0.01)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def refresh(client: Any) -> dict[str, Any]:
    job = client.post("/api/refresh?force=1").get_json()
    while True:
        body = client.get(f"/api/refresh/status/{job['job_id']}").get_json()
        if body["status"] in ("completed", "failed"):
            return body
        time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bomb-mb", type=int, default=60)
    parser.add_argument(
        "--near-mb", type=float, default=0, help="Add a file of this many MB of newlines (under the threshold)."
    )
    parser.add_argument("--files", type=int, default=20_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from app import create_app
    from infra.extensions import db
    from infra.runtime import runtime

    work = Path(tempfile.mkdtemp(prefix="pt-hostile-"))
    pg = PostgresServer.start()
    github = GitHubStandIn.start(login="bench-owner", user_id=7, token="ghp_" + "h" * 36)
    try:
        bare = build(work / "repo", args.bomb_mb, args.near_mb, args.files)
        packed = sum(p.stat().st_size for p in (bare / "objects").rglob("*") if p.is_file())
        github.add_repo("hostile", clone_url=bare.as_uri(), languages={"Python": 100})
        url = pg.create_database("bench_hostile")
        migrate(url, work / "instance")
        app = create_app({
            "DATABASE_URL": url, "GITHUB_API_URL": github.api_url, "GITHUB_ACCESS_TOKEN": github.token,
            "RUN_SCHEDULER": "false", "CACHE_DIR": str(work / "cache"), "INSTANCE_PATH": str(work / "instance"),
            "REFRESH_COOLDOWN": "0", "LOG_LEVEL": "WARNING", "GIT_ALLOW_FILE_URLS": "true",
        })  # fmt: skip
        client = app.test_client()
        baseline = rss_bytes(tree_pids(os.getpid(), {pg.process.pid}))
        started = time.perf_counter()
        with Sampler({pg.process.pid}) as sampler:
            body = refresh(client)
        seconds = time.perf_counter() - started
        project = client.get("/api/repos").get_json()["items"][0]
        with app.app_context():
            commits = db.session.scalar(db.text("SELECT count(*) FROM commits"))
            db.engine.dispose()
        limit = runtime(app).settings.max_worker_memory_mb
        print(f"repository: {args.bomb_mb} MB newline bomb, {args.near_mb} MB near-threshold file, "
              f"{args.files} files, deep path, odd names, symlink, submodule, bad dates; "
              f"{packed / 1024**2:.2f} MB packed")  # fmt: skip
        print(f"{'measure':<40} {'value':>14}")
        print("-" * 56)
        rows = [
            ("refresh status", body["status"]),
            ("repositories failed", str(body["repositories_failed"])),
            ("commits stored", str(commits)),
            ("LOC counted", str(project.get("loc"))),
            ("wall time (s)", f"{seconds:.2f}"),
            ("process tree RSS before (MB)", f"{baseline / 1024**2:.0f}"),
            ("process tree RSS peak (MB)", f"{sampler.peak / 1024**2:.0f}"),
            ("RSS samples", str(sampler.samples)),
            ("target (MAX_WORKER_MEMORY_MB)", f"< {limit}"),
        ]
        for name, value in rows:
            print(f"{name:<40} {value:>14}")
        ok = body["status"] == "completed" and not body["repositories_failed"] and sampler.peak < limit * 1024**2
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        github.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
