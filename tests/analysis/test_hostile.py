"""Hostile repositories: huge text files, odd names, symlinks, submodules, bad dates; resource limits."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analysis import loc
from analysis.counters import MAX_LINES_PER_FILE
from analysis.gitcmd import BIG_FILE_BYTES, GitError, Limits, Mirror, base_env, out_of_space, run_process
from analysis.gitlog import read_commits
from analysis.loc import MemoryBlobStore, count_tree
from analysis.mirrors import RepoCache
from tests.gitrepos import RepoBuilder, run

BOMB_BYTES = 20 * 1024 * 1024  # 20 MiB of newlines: about 20 KB compressed


def raw_commit(repo: RepoBuilder, lines: str) -> str:
    """Write a commit object verbatim (no date validation) on top of HEAD and move main to it."""
    tree = repo.git("rev-parse", "HEAD^{tree}").strip()
    parent = repo.head()
    body = f"tree {tree}\nparent {parent}\n{lines}\nbad dates\n"
    sha = repo.git("hash-object", "-t", "commit", "-w", "--stdin", "--literally", input=body.encode()).strip()
    repo.git("update-ref", "refs/heads/main", sha)
    return sha


@pytest.fixture
def hostile(tmp_path: Path) -> RepoBuilder:
    """A repository with a newline bomb, control characters in names, a symlink, a submodule, bad dates."""
    repo = RepoBuilder(tmp_path / "hostile")
    repo.write("app.py", "x = 1\ny = 2\n")
    repo.commit("start")
    repo.write("bomb.py", b"\n" * BOMB_BYTES)
    repo.write("tab\there/new\nline.py", "a = 1\n")
    repo.write("latin1-\xe9.py".encode("latin-1").decode("latin-1"), "b = 2\n")
    repo.symlink("link.py", "/etc/passwd")
    repo.gitlink("vendor/sub", "1" * 40)
    repo.commit("hostile")
    raw_commit(repo, "author A <a@example.com> not-a-date\ncommitter C <c@example.com> 99999999999999999999 +0000\n")
    repo.publish()
    return repo


def test_newline_bomb_counts_as_binary_no_churn_no_loc(hostile: RepoBuilder) -> None:
    mirror = Mirror(hostile.bare)
    records = read_commits(mirror, ["main"], excluded_dirs=())
    bad, big, start = records
    # bomb.py is over BIG_FILE_BYTES: numstat says "-\t-" (binary), so no line is counted.
    # The others: tab\there/new\nline.py 1 line, latin1 1 line, link.py 1 (its target) and the
    # submodule 1 ("Subproject commit <sha>", as git counts a gitlink).
    assert (big.additions, big.deletions, big.files_changed, big.churn) == (4, 0, 5, 4)
    assert (start.additions, start.files_changed) == (2, 1)
    assert (bad.additions, bad.files_changed) == (0, 0)
    result = count_tree(mirror, "main", (), MemoryBlobStore(), cloc_path=None, tool="cloc")
    # app.py 2 + two one-line files; the bomb (binary), the symlink and the submodule are skipped.
    assert (result.total_code, result.files, result.by_language) == (4, 3, {"Python": 4})
    assert result.large_files == 1


def test_unparsable_dates_are_the_epoch_and_the_far_future_is_clamped(hostile: RepoBuilder) -> None:
    bad = read_commits(Mirror(hostile.bare), ["main"], excluded_dirs=())[0]
    assert bad.subject == "bad dates"
    assert bad.authored_at == datetime(1970, 1, 1, tzinfo=UTC)
    assert bad.committed_at == datetime.max.replace(tzinfo=UTC)


def test_a_smaller_threshold_makes_a_small_file_binary(hostile: RepoBuilder) -> None:
    mirror = Mirror(hostile.bare, big_file_bytes=4)
    big = read_commits(mirror, ["main"], excluded_dirs=())[1]
    assert (big.additions, big.files_changed) == (1, 5)  # only the gitlink: "a = 1\n" (6 bytes) is binary now
    result = count_tree(mirror, "main", (), MemoryBlobStore(), cloc_path=None, tool="cloc")
    assert (result.total_code, result.files) == (0, 0)


def test_default_threshold_is_8_mib() -> None:
    assert BIG_FILE_BYTES == 8 * 1024 * 1024


def test_blobs_are_counted_in_parts_bounded_by_the_scratch_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = RepoBuilder(tmp_path / "many")
    repo.write_many({f"f{i}.py": f"v = {i}\n" for i in range(30)})  # 30 files of 6 bytes
    repo.commit("many")
    repo.publish()
    parts = loc.scratch_parts({(str(i), "k"): loc.TreeEntry(f"f{i}", str(i), "100644", 6) for i in range(30)}, limit=60)
    assert [len(part) for part in parts] == [10, 10, 10]
    monkeypatch.setattr(loc, "SCRATCH_MAX_BYTES", 60)
    result = count_tree(Mirror(repo.bare), "main", (), MemoryBlobStore(), cloc_path=None, tool="cloc")
    assert (result.total_code, result.files, result.blobs_counted) == (30, 30, 30)


def test_refresh_through_the_cache_applies_threshold_and_limits(hostile: RepoBuilder, tmp_path: Path) -> None:
    cache = RepoCache(
        tmp_path / "cache",
        max_bytes=1 << 30,
        git_timeout=120,
        limits=Limits(address_bytes=512 * 1024**2, file_bytes=1 << 30),
    )
    with cache.open("hostile", hostile.bare.as_uri()) as mirror:
        assert mirror.limits.address_bytes == 512 * 1024**2
        big = read_commits(mirror, ["main"], excluded_dirs=())[1]
        result = count_tree(mirror, "main", (), MemoryBlobStore(), cloc_path=None, tool="cloc")
    assert (big.additions, result.total_code) == (4, 4)


def test_file_size_limit_kills_a_child_that_writes_too_much(tmp_path: Path) -> None:
    done = run_process(
        ["sh", "-c", "head -c 100000 /dev/zero > out"],
        cwd=tmp_path,
        env=base_env(),
        timeout=60,
        limits=Limits(file_bytes=4096),
    )
    assert done.returncode != 0
    assert (tmp_path / "out").stat().st_size == 4096
    # SIGXFSZ is ignored: the write fails with EFBIG and the child says so, as git does for a full disk.
    assert b"File too large" in done.stderr


def test_out_of_space_names_a_full_disk_and_the_size_cap_only() -> None:
    for stderr in ("fatal: write error: No space left on device", "fatal: write error: File too large",
                   "error: Disk quota exceeded"):  # fmt: skip
        found = out_of_space(GitError(f"git clone failed (exit 128): {stderr}"))
        assert found is not None and str(found).startswith("Out of disk space while cloning"), stderr
        assert str(found).endswith(stderr)
    assert out_of_space(GitError("git clone failed (exit 128): fatal: early EOF")) is None


def test_address_space_limit_stops_a_child_that_allocates_too_much(tmp_path: Path) -> None:
    script = "b = bytearray(400 * 1024 * 1024)"
    done = run_process(
        [sys.executable, "-c", script], cwd=tmp_path, env=base_env(), timeout=60, limits=Limits(address_bytes=200 << 20)
    )
    assert done.returncode == 1
    assert b"MemoryError" in done.stderr
    free = run_process([sys.executable, "-c", script], cwd=tmp_path, env=base_env(), timeout=60)
    assert free.returncode == 0


def test_cpu_limit_stops_a_spinning_child(tmp_path: Path) -> None:
    done = run_process(
        [sys.executable, "-c", "while True: pass"],
        cwd=tmp_path,
        env=base_env(),
        timeout=600,
        limits=Limits(cpu_seconds=1),
    )
    assert done.returncode in (-signal.SIGXCPU, -signal.SIGKILL)


def test_git_under_limits_still_clones(hostile: RepoBuilder, tmp_path: Path) -> None:
    dest = tmp_path / "clone.git"
    done = run_process(
        ["git", "clone", "--bare", "-q", hostile.bare.as_uri(), str(dest)],
        cwd=tmp_path,
        env=base_env(),
        timeout=120,
        limits=Limits(address_bytes=256 << 20, file_bytes=64 << 20),
    )
    assert done.returncode == 0, done.stderr
    assert run(["git", "rev-parse", "main"], cwd=dest).strip() == hostile.head()


def test_limits_reach_the_grandchildren(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import resource; print(resource.getrlimit(resource.RLIMIT_FSIZE)[0])"],
        capture_output=True,
        check=True,
        preexec_fn=Limits(file_bytes=12345).preexec(60),
    )
    assert done.stdout.strip() == b"12345"


def test_a_file_of_too_many_lines_is_not_counted_and_never_reaches_cloc(tmp_path: Path) -> None:
    repo = RepoBuilder(tmp_path / "lines")
    repo.write("lines.py", "x = 1\n" + "\n" * MAX_LINES_PER_FILE)  # 1 + MAX_LINES_PER_FILE lines, 200 KB
    repo.write("ok.py", "y = 2\n" + "\n" * (MAX_LINES_PER_FILE - 1))  # exactly MAX_LINES_PER_FILE lines
    repo.commit("lines")
    repo.publish()
    store = MemoryBlobStore()
    result = count_tree(Mirror(repo.bare), "main", (), store, cloc_path=None, tool="cloc")
    assert (result.total_code, result.files, result.blobs_counted) == (1, 1, 2)
    assert sorted(v is None for v in store.items.values()) == [False, True]


def test_git_out_of_memory_under_the_limit_retries_with_a_small_threshold(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo = RepoBuilder(tmp_path / "dense")
    repo.write("dense.py", b"\n" * (3 * 1024 * 1024))  # under 8 MiB, but ~140 MB for git's diff
    repo.commit("dense")
    repo.publish()
    mirror = Mirror(repo.bare, limits=Limits(address_bytes=96 * 1024**2))
    record = read_commits(mirror, ["main"], excluded_dirs=())[0]
    assert (record.additions, record.files_changed) == (0, 1)  # binary in the retry
    assert "retrying with files over 1048576 bytes as binary" in caplog.text
    unlimited = read_commits(Mirror(repo.bare), ["main"], excluded_dirs=())[0]
    assert unlimited.additions == 3 * 1024 * 1024
