"""cloc compiled once per process (analysis.cloc_server): the counts of a fresh cloc, else a fresh cloc."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from analysis import cloc_server, counters
from analysis.counters import FileCount, LocError, cloc_env, run_cloc, server_options
from analysis.gitcmd import NO_LIMITS, Mirror
from analysis.loc import MemoryBlobStore, count_tree, find_cloc
from tests.gitrepos import RepoBuilder

FILES = {
    "src/app.py": "import os\n\n# a comment\ndef main():\n    return os.getcwd()\n",
    "src/copy.py": "import os\n\n# a comment\ndef main():\n    return os.getcwd()\n",  # same content
    "lib/util.c": "/* header */\nint add(int a, int b) {\n    return a + b;\n}\n",
    "web/we ird#name.js": "// note\nconst x = 1;\n\nexport default x;\n",
    "web/ leading space.rb": "puts 1\n",
    "docs/notes": "not source\n",
    "scripts/run": "#!/bin/sh\necho run\n",
    "ünïcode/ßtraße.go": "package main\n\nfunc main() {}\n",
}
CLOC = find_cloc(None)


def real_server() -> cloc_server.ClocServer:
    assert CLOC is not None, "cloc must be installed for the tests"
    server = cloc_server.server(CLOC, server_options(counters.BIG_FILE_BYTES), cloc_env(), NO_LIMITS)
    assert server is not None and server.alive
    return server


def plain_cloc_by_language(work: Path) -> dict[str, int]:
    """What a plain `cloc --skip-uniqueness` of the working tree says (the oracle)."""
    assert CLOC is not None
    out = subprocess.run([CLOC, "--json", "--quiet", "--exclude-dir=.git", "."], cwd=work, capture_output=True,
                         check=True, timeout=120, env=cloc_env()).stdout  # fmt: skip
    report = json.loads(out)
    return {name: row["code"] for name, row in report.items() if name not in ("header", "SUM")}


def test_served_counts_are_those_of_a_plain_cloc_and_the_server_stays(tmp_path: Path) -> None:
    repo = RepoBuilder(tmp_path / "repo")
    repo.write_many(FILES)
    repo.commit("files")
    repo.publish()
    server = real_server()
    before = server.counts
    first = count_tree(Mirror(repo.bare), repo.head(), (), MemoryBlobStore(), cloc_path=None)
    again = count_tree(Mirror(repo.bare), repo.head(), (), MemoryBlobStore(), cloc_path=None)
    assert first == again
    assert first.by_language == plain_cloc_by_language(repo.work)
    # Independently: code lines (a shebang is code); identical contents once; docs/notes is no source.
    assert first.by_language == {"Bourne Shell": 2, "C": 3, "Go": 2, "JavaScript": 2, "Python": 3, "Ruby": 1}
    assert (first.total_code, first.files) == (13, 6)
    assert real_server() is server and server.counts == before + 2  # one compiled cloc, two counts


def files_in(root: Path, contents: dict[str, str]) -> dict[str, tuple[str, str]]:
    for name, text in contents.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return {name: (f"sha-{name}", name.rsplit("/", 1)[-1]) for name in contents}


def test_a_busy_server_leaves_the_count_to_a_plain_cloc(tmp_path: Path) -> None:
    assert CLOC is not None
    files = files_in(tmp_path, {"0/m.py": "a = 1\n\n# c\nb = 2\n"})
    server = real_server()
    before = server.counts
    with server._lock:  # another thread counts
        counted = run_cloc(CLOC, tmp_path, files, timeout=60)
    assert counted == {("sha-0/m.py", "m.py"): FileCount("Python", 2, 1, 1)}
    assert server.counts == before


# A Perl "cloc" the server can run: it reads its names with read_list_file, as cloc does.
SERVABLE = "#!/usr/bin/perl\nsub read_list_file { return <STDIN> }\nmy @names = read_list_file('-');\n"


def fake_cloc(tmp_path: Path, text: str) -> str:
    script = tmp_path / "fake" / "cloc"
    script.parent.mkdir()
    script.write_text(text)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_a_cloc_that_is_no_perl_script_gets_no_server(tmp_path: Path) -> None:
    cloc = fake_cloc(tmp_path, "#!/bin/sh\necho '{}'\n")
    assert cloc_server.server(cloc, ["--json"], cloc_env(), NO_LIMITS) is None


def test_a_failed_count_says_what_cloc_printed(tmp_path: Path) -> None:
    cloc = fake_cloc(tmp_path, SERVABLE + "print STDERR qq(cannot count here\\n);\nexit 3;\n")
    files = files_in(tmp_path / "work", {"a.py": "x = 1\n"})
    with pytest.raises(LocError, match=r"cloc failed \(exit 3\): cannot count here"):
        run_cloc(cloc, tmp_path / "work", files, timeout=60)
    server = cloc_server.server(cloc, server_options(counters.BIG_FILE_BYTES), cloc_env(), NO_LIMITS)
    assert server is not None and server.alive and server.counts == 1  # the child failed, not the server
    server.stop()


def test_a_cloc_the_server_cannot_run_is_counted_by_a_plain_cloc(tmp_path: Path) -> None:
    cloc = fake_cloc(tmp_path, "#!/usr/bin/perl\nprint qq({});\n")  # no read_list_file
    files = files_in(tmp_path / "work", {"a.py": "x = 1\n"})
    assert run_cloc(cloc, tmp_path / "work", files, timeout=60) == {("sha-a.py", "a.py"): None}
    assert cloc_server.server(cloc, server_options(counters.BIG_FILE_BYTES), cloc_env(), NO_LIMITS) is None


def test_a_server_that_dies_is_not_started_again_and_the_plain_cloc_reports(tmp_path: Path) -> None:
    cloc = fake_cloc(tmp_path, "#!/usr/bin/perl\nBEGIN { die qq(broken at compile\\n) }\n")
    files = files_in(tmp_path / "work", {"a.py": "x = 1\n"})
    with pytest.raises(LocError, match=r"cloc failed \(exit 255\): broken at compile"):
        run_cloc(cloc, tmp_path / "work", files, timeout=60)
    options = server_options(counters.BIG_FILE_BYTES)
    assert cloc_server.server(cloc, options, cloc_env(), NO_LIMITS) is None  # refused from now on


def test_a_count_past_its_timeout_stops_the_server_and_the_next_starts_afresh(tmp_path: Path) -> None:
    cloc = fake_cloc(tmp_path, SERVABLE + "sleep 60;\n")
    options = server_options(counters.BIG_FILE_BYTES)
    files = files_in(tmp_path / "work", {"a.py": "x = 1\n"})
    server = cloc_server.server(cloc, options, cloc_env(), NO_LIMITS)
    assert server is not None
    with pytest.raises(LocError, match=r"cloc timed out after 0\.5 s"):
        run_cloc(cloc, tmp_path / "work", files, timeout=0.5)
    assert not server.alive
    again = cloc_server.server(cloc, options, cloc_env(), NO_LIMITS)
    assert again is not None and again is not server and again.alive
    again.stop()


def in_child(report: Callable[[], bytes]) -> bytes:
    """Run `report` in a forked child process and return what it reported."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.write(write, report())
        finally:
            os._exit(0)
    os.close(write)
    try:
        return os.read(read, 100)
    finally:
        os.waitpid(pid, 0)
        os.close(read)


def test_a_forked_process_starts_its_own_server() -> None:
    server = real_server()

    def own() -> bytes:
        mine = real_server()
        mine.stop()
        return b"own" if mine is not server and mine.owner == os.getpid() else b"shared"

    assert in_child(own) == b"own"
    assert server.alive and real_server() is server


def test_a_shared_server_counts_for_the_processes_forked_after_it(tmp_path: Path) -> None:
    assert CLOC is not None
    options = [*server_options(counters.BIG_FILE_BYTES), "--skip-win-hidden"]  # a key of its own
    shared = cloc_server.server(CLOC, options, cloc_env(), NO_LIMITS, shared=True)
    assert shared is not None
    files = files_in(tmp_path, {"0/m.py": "a = 1\n\n# c\nb = 2\n"})

    def count() -> bytes:
        mine = cloc_server.server(CLOC, options, cloc_env(), NO_LIMITS)
        if mine is not shared or mine is None:
            return b"not shared"
        code, out, _ = mine.count(tmp_path, list(files), 60)
        return b"counted 2" if code == 0 and json.loads(out)["0/m.py"]["code"] == 2 else b"wrong count"

    for _ in range(2):  # one work-horse after another, as an RQ worker forks them
        assert in_child(count) == b"counted 2"
    assert shared.alive and shared.counts == 0  # the counts were the children's
    shared.stop()
