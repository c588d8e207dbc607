"""A cloc started before its files exist (counters.WarmCloc, loc.warm_cloc): same counts, no leftovers."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from analysis import counters, loc
from analysis.counters import FileCount, LocError, WarmCloc
from analysis.gitcmd import NO_LIMITS, Mirror
from analysis.loc import MemoryBlobStore, count_tree
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


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Mirror, str]:
    repo = RepoBuilder(tmp_path / "repo")
    repo.write_many(FILES)
    repo.commit("files")
    repo.publish()
    return Mirror(repo.bare), repo.head()


def started(**kwargs: object) -> WarmCloc:
    warm = loc.warm_cloc(None, timeout=60, limits=NO_LIMITS, max_bytes=counters.BIG_FILE_BYTES, **kwargs)
    assert warm is not None, "cloc must be installed for the tests"
    return warm


def gone(pid: int) -> bool:
    """Tell whether a child process has exited and been reaped (or never was ours)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_warm_cloc_counts_what_a_cold_one_counts(tree: tuple[Mirror, str]) -> None:
    mirror, head = tree
    cold = count_tree(mirror, head, (), MemoryBlobStore(), cloc_path=None)
    with started() as warm:
        time.sleep(0.3)  # compiled and waiting on stdin by now: the files come later
        hot = count_tree(mirror, head, (), MemoryBlobStore(), cloc_path=None, warm=warm)
        assert warm.used
    assert hot == cold
    # Independently: cloc counts code lines (a shebang is code); identical contents once; docs/notes
    # is no source.
    assert (hot.total_code, hot.files) == (3 + 3 + 2 + 1 + 2 + 2, 6)
    assert hot.by_language == {"Bourne Shell": 2, "C": 3, "Go": 2, "JavaScript": 2, "Python": 3, "Ruby": 1}
    assert not warm.root.exists()


def test_an_unused_warm_cloc_is_stopped_and_its_directory_removed() -> None:
    warm = started()
    pid, root = warm._proc.pid, warm.root
    assert root.is_dir() and not gone(pid)
    warm.close()
    assert gone(pid) and not root.exists()


def test_a_batch_for_several_cloc_workers_leaves_the_warm_one_alone(
    tree: tuple[Mirror, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror, head = tree
    monkeypatch.setattr(counters, "PARALLEL_CLOC_BYTES", 1)
    with started() as warm:
        counted = count_tree(mirror, head, (), MemoryBlobStore(), cloc_path=None, warm=warm)
        assert not warm.used
    assert counted.total_code == 13


def test_known_blobs_need_no_cloc_at_all(tree: tuple[Mirror, str]) -> None:
    mirror, head = tree
    store = MemoryBlobStore()
    first = count_tree(mirror, head, (), store, cloc_path=None)
    with started() as warm:
        again = count_tree(mirror, head, (), store, cloc_path=None, warm=warm)
        assert not warm.used and again.blobs_counted == 0
    assert again.total_code == first.total_code


def fake_cloc(tmp_path: Path, body: str) -> str:
    script = tmp_path / "cloc"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_a_warm_cloc_that_hangs_times_out_and_is_killed(tmp_path: Path) -> None:
    warm = WarmCloc(fake_cloc(tmp_path, "cat >/dev/null; exec sleep 60"), timeout=60)
    (warm.take() / "a.py").write_text("x = 1\n")
    with pytest.raises(LocError, match=r"timed out after 0\.5 s"):
        warm.count({"a.py": ("sha", "a.py")}, timeout=0.5)
    assert gone(warm._proc.pid)
    warm.close()


def test_a_warm_cloc_that_fails_says_what_it_printed(tmp_path: Path) -> None:
    with (
        WarmCloc(fake_cloc(tmp_path, "echo 'bad option' >&2; exit 3"), timeout=60) as warm,
        pytest.raises(LocError, match=r"cloc failed \(exit 3\): bad option"),
    ):
        warm.count({"a.py": ("sha", "a.py")}, timeout=10)


def test_the_warm_cloc_reads_exactly_the_names_it_is_given(tmp_path: Path) -> None:
    with WarmCloc(fake_cloc(tmp_path, 'printf "%s" "$*" > args; cat > names'), timeout=60) as warm:
        root = warm.take()
        assert warm.count({"0/a b.py": ("s1", "a b.py"), "1/a b.py": ("s2", "a b.py")}, timeout=10) == {
            ("s1", "a b.py"): None, ("s2", "a b.py"): None}  # fmt: skip
        assert (root / "names").read_bytes() == b"0/a b.py\n1/a b.py\n"
        assert (root / "args").read_text().endswith("--list-file=-")


def test_warm_counts_agree_with_parse_of_a_real_run(tmp_path: Path) -> None:
    with started() as warm:
        (warm.take() / "0").mkdir()
        (warm.root / "0" / "m.py").write_text("a = 1\n\n# c\nb = 2\n")
        assert warm.count({"0/m.py": ("sha", "m.py")}, timeout=60) == {("sha", "m.py"): FileCount("Python", 2, 1, 1)}
