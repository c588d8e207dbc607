"""The depth-1 snapshot a cold refresh counts LOC from while the whole history is cloned
(RepoCache.snapshot, refresh.project._count_snapshot and _count), with real git and real cloc."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from analysis.gitcmd import GitAuth, GitError, Mirror
from analysis.loc import MemoryBlobStore, count_tree
from analysis.mirrors import RepoCache
from refresh import project as refresh_project
from settings import Settings
from tests.gitrepos import RepoBuilder

TOKEN = "ghp_" + "S" * 36


@pytest.fixture
def two_tips(tmp_path: Path) -> RepoBuilder:
    """main: three commits (a.py 2 lines, b.py 3 lines at the tip); side: a branch with c.py."""
    repo = RepoBuilder(tmp_path / "repo")
    repo.write("a.py", "x = 1\n")
    repo.commit("first")
    repo.write("a.py", "x = 1\ny = 2\n")
    repo.commit("second")
    repo.write("b.py", "p = 1\nq = 2\nr = 3\n")
    repo.commit("third")
    repo.git("checkout", "-q", "-b", "side")
    repo.write("c.py", "z = 0\n")
    repo.commit("side")
    repo.git("checkout", "-q", "main")
    repo.publish()
    return repo


def test_a_snapshot_holds_the_tip_alone_and_is_removed_after(two_tips: RepoBuilder, tmp_path: Path) -> None:
    cache = RepoCache(tmp_path / "cache", max_bytes=1 << 30, git_timeout=60)
    tip = two_tips.git("rev-parse", "main").strip()
    with cache.snapshot("o-r", two_tips.bare.as_uri(), branch="main") as snapshot:
        where = snapshot.path
        assert snapshot.resolve_head("main") == tip
        assert snapshot.git(["rev-list", "--count", "--all"]).stdout.strip() == b"1"  # depth 1
        assert not cache.mirror_path("o-r").exists()  # not a mirror: a clone later starts from nothing
        counted = count_tree(snapshot, tip, (), MemoryBlobStore(), cloc_path=None, tool="cloc")
        assert (counted.total_code, counted.by_language) == (5, {"Python": 5})
    assert not where.exists()
    with cache.snapshot("o-r", two_tips.bare.as_uri(), branch="side") as snapshot:
        assert snapshot.resolve_head("side") == two_tips.git("rev-parse", "side").strip()


def test_a_failed_snapshot_means_no_early_count_and_hides_the_token(
    two_tips: RepoBuilder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = RepoCache(tmp_path / "cache", max_bytes=1 << 30, git_timeout=60)
    with pytest.raises(GitError) as failure, cache.snapshot("o-r", two_tips.bare.as_uri(), branch="gone"):
        pass
    assert "gone" in str(failure.value)
    settings = Settings(github_token=TOKEN)
    missing = (tmp_path / "nowhere.git").as_uri()
    with caplog.at_level("INFO"):
        assert refresh_project._count_snapshot(cache, "o-r", missing, GitAuth(token=TOKEN, host="github.com"), "main",
                                               settings, MemoryBlobStore()) is None  # fmt: skip
    assert "no early LOC count" in caplog.text and TOKEN not in caplog.text
    assert list((tmp_path / "cache" / "mirrors").iterdir()) == []


def _done(value: Any) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(value)
    return future


def test_the_early_count_is_used_only_for_the_head_it_counted(two_tips: RepoBuilder) -> None:
    settings = Settings()
    mirror, tip = Mirror(two_tips.bare), two_tips.git("rev-parse", "main").strip()
    side = two_tips.git("rev-parse", "side").strip()
    early = count_tree(mirror, side, (), MemoryBlobStore(), cloc_path=None)  # 6 lines: a.py, b.py, c.py
    assert early.total_code == 6
    # the snapshot counted this very commit: its result is taken as it is
    assert refresh_project._count(mirror, side, settings, MemoryBlobStore(), _done((side, early))) is early
    # a push between the snapshot and the clone: the clone's head is counted instead
    recount = refresh_project._count(mirror, tip, settings, MemoryBlobStore(), _done((side, early)))
    assert (recount.total_code, recount.by_language) == (5, {"Python": 5})
    # no snapshot (it failed): counted from the mirror
    assert refresh_project._count(mirror, tip, settings, MemoryBlobStore(), _done(None)).total_code == 5
