"""Tests for counting lines of code of git trees (loc.py, counters.py) against real cloc and pygount."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from analysis import counters, loc
from analysis.counters import PARALLEL_CLOC_BYTES, FileCount, LocError, cloc_processes, parse_cloc_json, safe_name
from analysis.gitcmd import Mirror
from analysis.loc import MemoryBlobStore, count_tree, find_cloc, lang_key, loc_excluded, tree_entries
from tests.fixtures_git import EXCLUDED_DIRS
from tests.gitrepos import RepoBuilder, clone_checkout

CLOC = shutil.which("cloc")
needs_cloc = pytest.mark.skipif(CLOC is None, reason="cloc is not installed")
CLOC_BUILTIN_EXCLUDED = (".svn", ".cvs", ".hg", ".git", ".bzr", ".snapshot", ".config")

PYTHON = '''"""A module."""

import os


# A comment
def main():
    """Docstring."""
    return os.getcwd()  # trailing comment
'''
JS = "// header\n/* block\n   comment */\nconst a = 1;\n\nfunction f() {\n  return a;\n}\n"
GO = 'package main\n\nimport "fmt"\n\n// main prints\nfunc main() {\n\tfmt.Println("hi")\n}\n'
C = "#include <stdio.h>\n\n/* entry */\nint main(void) {\n    return 0;\n}\n"
SAMPLE_FILES: dict[str, str | bytes] = {
    "src/app.py": PYTHON,
    "src/util.py": "def util():\n    return 1\n",
    "src/app.py~": PYTHON + "x = 1\n",  # editor backup: cloc ignores names ending in ~
    "src/empty.py": "",
    "web/app.js": JS,
    "web/copy/app.js": JS,  # the same content twice: counted once
    "lib/same.c": C,
    "lib/same.cpp": C,  # same content, another language: cloc keeps the last path (C++)
    "go/main.go": GO,
    "c/main.c": C + "int x;\n",
    "c/main.h": "#define X 1\n",
    "Makefile": "all:\n\techo hi\n",
    "CMakeLists.txt": "project(x)\n",
    "README.md": "# Title\n\nSome text.\n",
    'quote "name".py': "print('q')\n",
    "back\\slash.py": "print('b')\n",
    "tab\tname.js": "var t = 1;\n",
    "ünï cødé/файл.go": GO.replace("hi", "привет"),
    "img/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)),
    "node_modules/lib/index.js": JS + "var vendored = 1;\n",
    "a/build/gen.py": "generated = 1\n",
    ".github/workflows/check.py": "print('ci')\n",
    ".config/tool.py": "print('config')\n",  # cloc always skips .config
    "build": "#!/bin/sh\necho build\n",  # cloc's --exclude-dir also skips files of that name
    "scripts/run": "#!/usr/bin/env python3\nprint('shebang')\n",
}


@pytest.fixture
def loc_repo(make_repo: Callable[[str], RepoBuilder]) -> RepoBuilder:
    """Return a published repository with three-plus languages, duplicates, exclusions and odd entries."""
    repo = make_repo("loc")
    repo.write_many(SAMPLE_FILES)
    repo.symlink("src/link.py", "app.py")
    repo.commit("Sample tree")
    repo.gitlink("vendor/sub", repo.head())
    repo.commit("Add a submodule")
    repo.publish()
    return repo


def plain_cloc(checkout: Path, excluded: tuple[str, ...] = EXCLUDED_DIRS) -> tuple[int, dict[str, int], int]:
    """Run a plain `cloc --json --exclude-dir=...` on a checkout; return (total, by language, files)."""
    assert CLOC is not None
    env = {"PATH": os.environ["PATH"], "HOME": os.devnull}
    argv = [CLOC, "--json", "--quiet", f"--exclude-dir={','.join(excluded)}", str(checkout)]
    out = subprocess.run(argv, capture_output=True, check=True, timeout=120, env=env).stdout
    report = json.loads(out or b"{}")
    languages = {name: row["code"] for name, row in report.items() if name not in {"header", "SUM"}}
    return report.get("SUM", {}).get("code", 0), languages, report.get("SUM", {}).get("nFiles", 0)


def assert_matches_plain_cloc(result: loc.LocResult, repo: RepoBuilder, tmp_path: Path) -> None:
    """Check a count against plain cloc on a fresh checkout of the published repository."""
    checkout = clone_checkout(repo.bare.as_uri(), tmp_path / f"checkout-{time.monotonic_ns()}")
    total, languages, files = plain_cloc(checkout)
    assert (result.total_code, result.by_language, result.files) == (total, languages, files)


# -- pure helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("src/app.py", "cloc:app.py"),
        ("x/Makefile", "cloc:Makefile"),
        ("a/b.C", "cloc:b.C"),
        ("a/b.c", "cloc:b.c"),
        ("types.d.ts", "cloc:types.d.ts"),
    ],
)
def test_lang_key_is_tool_and_basename(path: str, expected: str) -> None:
    assert lang_key("cloc", path) == expected


def test_lang_key_of_a_long_name_fits_the_column() -> None:
    key = lang_key("pygount", "d/" + "x" * 300 + ".py")
    assert len(key) <= 120 and key.startswith("pygount:#")
    assert key != lang_key("pygount", "d/" + "x" * 301 + ".py")


@pytest.mark.parametrize(
    ("path", "excluded"),
    [("node_modules/a.js", True), ("x/build/y.py", True), ("build", True), ("src/build.py", False), ("a.py", False)],
)
def test_loc_excluded_checks_every_component(path: str, excluded: bool) -> None:
    assert loc_excluded(path, EXCLUDED_DIRS) is excluded


def test_safe_name_keeps_extension_and_drops_json_breakers() -> None:
    assert safe_name('a"b\\c\td.py') == "a\ufffdb\ufffdc\ufffdd.py"
    assert safe_name("ok name ü.go") == "ok name ü.go"


def test_parse_cloc_json_maps_back_and_marks_unreported_files() -> None:
    files = {"0/a.py": ("s1", "cloc:a.py"), "0/b.bin": ("s2", "cloc:b.bin")}
    out = b'{"header": {}, "./0/a.py": {"blank": 1, "comment": 2, "code": 3, "language": "Python"}, "SUM": {}}'
    assert parse_cloc_json(out, files) == {
        ("s1", "cloc:a.py"): FileCount("Python", 3, 2, 1),
        ("s2", "cloc:b.bin"): None,
    }
    assert parse_cloc_json(b"", files) == dict.fromkeys(files.values())


def test_find_cloc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = _script(tmp_path, "my-cloc", "exit 0")
    assert find_cloc(str(script)) == str(script)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert find_cloc(str(tmp_path / "missing")) is None
    assert find_cloc(None) is None


# -- against a real repository -------------------------------------------------------------------


def test_tree_entries_skip_symlinks_submodules_and_excluded(loc_repo: RepoBuilder) -> None:
    entries = {entry.path: entry for entry in tree_entries(loc_repo.bare, "HEAD", EXCLUDED_DIRS)}
    assert "src/link.py" not in entries and "vendor/sub" not in entries
    assert not any(path.startswith(("node_modules/", "a/build/", ".github/")) or path == "build" for path in entries)
    assert entries["src/app.py"].size == len(PYTHON.encode()) and entries["src/app.py"].mode == "100644"
    assert "tab\tname.js" in entries and 'quote "name".py' in entries and "ünï cødé/файл.go" in entries


def test_cloc_processes_only_for_big_batches() -> None:
    assert cloc_processes(0) == 0 and cloc_processes(PARALLEL_CLOC_BYTES - 1) == 0
    cores = os.cpu_count() or 1
    assert cloc_processes(PARALLEL_CLOC_BYTES) == (min(cores, 4) if cores > 1 else 0)


@needs_cloc
@pytest.mark.parametrize("parallel", [False, True])
def test_count_tree_equals_plain_cloc(
    loc_repo: RepoBuilder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool
) -> None:
    if parallel:  # cloc's worker processes must not change any number
        monkeypatch.setattr(counters, "PARALLEL_CLOC_BYTES", 0)
        monkeypatch.setattr(os, "cpu_count", lambda: 2)
    store = MemoryBlobStore()
    result = count_tree(loc_repo.bare, "HEAD", EXCLUDED_DIRS, store, cloc_path=None)
    assert_matches_plain_cloc(result, loc_repo, tmp_path)
    assert {"Python", "JavaScript", "Go", "C", "C++"} <= set(result.by_language)
    assert result.blobs_counted == len(store.items) > 0
    again = count_tree(loc_repo.bare, "HEAD", EXCLUDED_DIRS, store, cloc_path=None)
    assert again.blobs_counted == 0 and again.total_code == result.total_code


@needs_cloc
def test_one_new_commit_counts_only_its_blobs(loc_repo: RepoBuilder, tmp_path: Path) -> None:
    store = MemoryBlobStore()
    count_tree(loc_repo.bare, "HEAD", EXCLUDED_DIRS, store, cloc_path=None)
    loc_repo.write("src/app.py", PYTHON + "\n\ndef more():\n    return 2\n")
    loc_repo.write("src/new.go", GO)  # same content as go/main.go but a new name: one new key
    loc_repo.commit("Change one file, copy another")
    loc_repo.publish()
    result = count_tree(loc_repo.bare, "HEAD", EXCLUDED_DIRS, store, cloc_path=None)
    assert result.blobs_counted == 2
    assert_matches_plain_cloc(result, loc_repo, tmp_path)


@needs_cloc
def test_excluded_dirs_are_configurable(loc_repo: RepoBuilder, tmp_path: Path) -> None:
    result = count_tree(loc_repo.bare, "HEAD", ("web", "lib"), MemoryBlobStore(), cloc_path=None)
    checkout = clone_checkout(loc_repo.bare.as_uri(), tmp_path / "checkout")
    assert (result.total_code, result.by_language, result.files) == plain_cloc(checkout, ("web", "lib"))
    assert "JavaScript" in result.by_language  # node_modules is no longer excluded


@needs_cloc
def test_empty_tree_counts_zero(make_repo: Callable[[str], RepoBuilder]) -> None:
    repo = make_repo("docs-only")
    repo.write("data.bin", b"\x00\x01")
    repo.write("empty.txt", "")
    repo.commit("No code")
    result = count_tree(repo.work, "HEAD", EXCLUDED_DIRS, MemoryBlobStore(), cloc_path=None)
    assert (result.total_code, result.by_language, result.files, result.blobs_counted) == (0, {}, 0, 2)


def test_pygount_when_cloc_is_absent(loc_repo: RepoBuilder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pygount import SourceAnalysis, SourceState

    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = count_tree(loc_repo.bare, "HEAD", EXCLUDED_DIRS, MemoryBlobStore(), cloc_path=None)
    checkout = clone_checkout(loc_repo.bare.as_uri(), tmp_path / "checkout")
    chosen: dict[bytes, tuple[str, SourceAnalysis]] = {}
    for path in sorted(p for p in checkout.rglob("*") if p.is_file() and not p.is_symlink()):
        relative = path.relative_to(checkout).as_posix()
        if loc_excluded(relative, EXCLUDED_DIRS + CLOC_BUILTIN_EXCLUDED) or path.stat().st_size == 0:
            continue
        analysis = SourceAnalysis.from_file(str(path), "")
        if analysis.state == SourceState.analyzed:
            chosen[path.read_bytes()] = (relative, analysis)  # identical contents: the last path wins
    expected: dict[str, int] = {}
    for _relative, analysis in chosen.values():
        expected[analysis.language] = expected.get(analysis.language, 0) + analysis.source_count
    assert result.by_language == dict(sorted(expected.items()))
    assert result.total_code == sum(expected.values()) > 0 and result.files == len(chosen)


@needs_cloc
def test_full_tmpfs_falls_back_to_the_temp_dir(
    loc_repo: RepoBuilder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = tmp_path / "full-shm"
    full.mkdir()
    used: list[Path] = []
    real = counters.materialise

    def materialise(mirror: Mirror, wanted: dict, root: Path, batch_bytes: int, *rest: object) -> dict:
        used.append(root)
        if root.parent == full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(mirror, wanted, root, batch_bytes, *rest)

    monkeypatch.setattr(loc, "_shm_for", lambda total_bytes: [str(full)])
    monkeypatch.setattr(counters, "materialise", materialise)
    result = count_tree(loc_repo.bare, "HEAD", EXCLUDED_DIRS, MemoryBlobStore(), cloc_path=None)
    assert result.total_code > 0 and [root.parent == full for root in used] == [True, False]


def test_tool_and_store_keys_never_mix(loc_repo: RepoBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryBlobStore()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    count_tree(loc_repo.bare, "HEAD", EXCLUDED_DIRS, store, cloc_path=None)
    assert store.items and all(key.startswith("pygount:") for _sha, key in store.items)


def test_cloc_required_but_missing(loc_repo: RepoBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(LocError, match="cloc is not installed"):
        count_tree(loc_repo.bare, "HEAD", EXCLUDED_DIRS, MemoryBlobStore(), cloc_path=None, tool="cloc")


@pytest.mark.parametrize(
    ("body", "timeout", "message"),
    [
        ("echo 'Unknown option' >&2; exit 2", 30.0, r"cloc failed \(exit 2\): Unknown option"),
        ("echo '{not json'", 30.0, "cloc printed unexpected output"),
        ("echo '[1, 2]'", 30.0, "cloc printed unexpected output"),
        ("sleep 30 & wait", 0.5, "cloc timed out after 0.5 s"),
    ],
)
def test_cloc_failures_raise_loc_error(
    loc_repo: RepoBuilder, tmp_path: Path, body: str, timeout: float, message: str
) -> None:
    # A stand-in executable provokes the failure modes real cloc shows only rarely.
    broken = _script(tmp_path, "cloc", body)
    started = time.monotonic()
    with pytest.raises(LocError, match=message):
        count_tree(
            Mirror(loc_repo.bare, timeout=timeout), "HEAD", EXCLUDED_DIRS, MemoryBlobStore(), cloc_path=str(broken)
        )
    assert time.monotonic() - started < 10


@needs_cloc
def test_two_thousand_files_cold_then_incremental(make_repo: Callable[[str], RepoBuilder], tmp_path: Path) -> None:
    repo = make_repo("big")
    templates = {"py": PYTHON, "js": JS, "go": GO, "c": C}
    for i in range(2000):
        ext = list(templates)[i % 4]
        repo.write(
            f"pkg{i % 20}/mod{i}.{ext}", templates[ext] + f"// {i}\n" * (ext != "py") + f"# {i}\n" * (ext == "py")
        )
    repo.commit("Big tree")
    repo.publish()
    expected = plain_cloc(repo.work)  # the working tree is a checkout of HEAD (cloc skips .git)
    store = MemoryBlobStore()
    cold = count_tree(repo.bare, "HEAD", EXCLUDED_DIRS, store, cloc_path=None)
    # Speed is measured by benchmarks/refresh.py, not asserted here.
    assert (cold.total_code, cold.by_language, cold.files) == expected
    assert cold.blobs_counted == 2000
    repo.write("pkg0/mod0.py", PYTHON + "y = 2\n")
    repo.commit("One change")
    repo.publish()
    warm = count_tree(repo.bare, "HEAD", EXCLUDED_DIRS, store, cloc_path=None)
    assert warm.blobs_counted == 1 and warm.total_code == cold.total_code + 1


def _script(directory: Path, name: str, body: str) -> Path:
    """Write an executable shell script."""
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path
