"""Streaming `git log` gives exactly the records of the buffered reader, in bounded batches."""

from __future__ import annotations

import pytest

from analysis import gitlog, logstream
from analysis.gitcmd import GitError
from tests.fixtures_git import SampleHistory

EXCLUDED = ("vendor", "node_modules")


def test_streamed_records_equal_the_buffered_read(sample_history: SampleHistory) -> None:
    bare = sample_history.repo.bare
    head = sample_history.repo.head()
    expected = gitlog.read_commits(bare, [head], EXCLUDED)
    assert len(expected) == 7

    single = list(logstream.stream_commits(bare, [head], EXCLUDED, batch=3))
    assert [len(b) for b in single] == [3, 3, 1]
    assert [r for b in single for r in b] == expected

    shas = [r.sha for r in expected]
    parallel = list(logstream.stream_commits_by_sha(bare, shas, EXCLUDED, jobs=3, batch=2, min_chunk=2))
    assert all(len(b) <= 2 for b in parallel)
    assert sorted((r for b in parallel for r in b), key=lambda r: r.sha) == sorted(expected, key=lambda r: r.sha)

    old = expected[3].sha
    incremental = [r for b in logstream.stream_commits(bare, [head, f"^{old}"], EXCLUDED) for r in b]
    assert incremental == expected[:3]


def test_a_failing_git_log_raises(sample_history: SampleHistory) -> None:
    with pytest.raises(GitError, match="git log failed"):
        list(logstream.stream_commits_by_sha(sample_history.repo.bare, ["0" * 40], EXCLUDED))
