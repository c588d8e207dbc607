"""The process tree of a benchmark, read from /proc: who descends from whom, resident memory, CPU time.

Memory is the sum of VmRSS over a process and its live descendants (git, cloc, …); CPU is user +
system time of the live processes. The servers a deployment runs elsewhere are left out unless
asked for: PostgreSQL (and the `runuser` that started it) and the serving side of a clone or fetch
from a file:// URL (`git-upload-pack` and the `git pack-objects` under it, which map the served
repository's whole pack: GitHub's memory, not the worker's). Nor is a child caught between fork
and exec (its parent's command line): it shows its parent's pages, which it shares.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stats() -> dict[int, tuple[str, list[str]]]:
    """Return {pid: (command name, the fields of /proc/<pid>/stat after the name)} of every live process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # exited meanwhile
            found[int(entry.name)] = (
                stat[stat.index("(") + 1 : stat.rindex(")")],
                stat[stat.rindex(")") + 2 :].split(),
            )
    return found


SERVERS = ("postgres", "runuser", "git-upload-pack")


def tree(root: int, with_servers: bool = False) -> dict[int, tuple[str, list[str]]]:
    """Return the stat entries of `root` and its live descendants (the SERVERS' only if asked)."""
    stats = _stats()
    children: dict[int, list[int]] = {}
    for pid, (_name, fields) in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid not in stats or (not with_servers and stats[pid][0].startswith(SERVERS)):
            continue
        found[pid] = stats[pid]
        todo += children.get(pid, [])
    return found


def rss_by_process(root: int, skip: int | None = None) -> list[tuple[str, int]]:
    """Return (command name, VmRSS in kB) of `root` and its live descendants, the SERVERS' and `skip`'s left out."""
    rows = []
    found = tree(root)
    for pid, (name, fields) in found.items():
        if pid == skip or (int(fields[1]) in found and _cmdline(pid) == _cmdline(int(fields[1]))):
            # A child with its parent's command line has not exec'd yet: between fork (or vfork) and
            # exec it shows the parent's pages as its own, which are not a byte more of memory.
            continue
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rows.append((name, int(line.split()[1])))
        except OSError:
            continue
    return rows


def _cmdline(pid: int) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def cpu_seconds(root: int) -> float:
    """Return the CPU seconds (user + system) of `root` and its live descendants, the SERVERS' included."""
    return sum((int(fields[11]) + int(fields[12])) / TICKS for _name, fields in tree(root, with_servers=True).values())


def machine_busy_seconds() -> float:
    """Return the CPU seconds every core of the machine has spent busy since boot (not idle, not waiting for I/O)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICKS  # user … steal, less idle and iowait


def tree_rss_kb(root: int, skip: int | None = None) -> int:
    """Sum VmRSS (kB) of `root` and its live descendants, the SERVERS' and `skip`'s left out."""
    return sum(kb for _name, kb in rss_by_process(root, skip))


class PeakRss:
    """The peak resident memory of this process's tree while in the `with` block, sampled every 20 ms.

    The sampling runs in a process of its own (left out of the sum): walking /proc in a thread of
    the measured process would take the GIL from the service being measured.
    """

    def __enter__(self) -> PeakRss:
        argv = [sys.executable, "-c", "import sys; from benchmarks.proctree import watch; watch(int(sys.argv[1]))",
                str(os.getpid())]  # fmt: skip
        root = Path(__file__).resolve().parent.parent
        self._proc = subprocess.Popen(argv, cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        self._proc.stdout.readline()  # "ready": sampling has begun
        self.peak = 0
        return self

    def __exit__(self, *exc: object) -> None:
        out, _ = self._proc.communicate("", timeout=60)  # closing its stdin stops it
        self.peak = int(out.split()[-1])

    @property
    def mb(self) -> float:
        return self.peak / 1024


def watch(root: int, interval: float = 0.02) -> None:
    """Sample `root`'s tree (without this process) until stdin closes; print the peak in kB."""
    me = os.getpid()
    peak = tree_rss_kb(root, skip=me)
    print("ready", flush=True)
    while not select.select([sys.stdin], [], [], interval)[0]:
        peak = max(peak, tree_rss_kb(root, skip=me))
    print(max(peak, tree_rss_kb(root, skip=me)), flush=True)
