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


def _by_sha(records: list) -> list:
    return sorted(records, key=lambda r: r.sha)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7])
def test_reading_from_both_ends_hands_out_every_commit_once(sample_history: SampleHistory, chunk: int) -> None:
    bare, head = sample_history.repo.bare, sample_history.repo.head()
    expected = gitlog.read_commits(bare, [head], EXCLUDED)
    assert len(expected) == 7

    batches = list(logstream.stream_commits_from_both_ends(bare, head, EXCLUDED, batch=2, chunk=chunk, minimum=2))
    assert all(len(b) <= 2 for b in batches)
    assert _by_sha([r for b in batches for r in b]) == _by_sha(expected)


def test_a_history_shorter_than_the_minimum_is_read_from_the_head_alone(
    sample_history: SampleHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare, head = sample_history.repo.bare, sample_history.repo.head()
    chunks: list[list[str]] = []
    real = logstream._log_shas
    monkeypatch.setattr(logstream, "_log_shas", lambda m, shas, *a: chunks.append(shas) or real(m, shas, *a))

    records = [r for b in logstream.stream_commits_from_both_ends(bare, head, EXCLUDED, chunk=2, minimum=8) for r in b]
    assert records == gitlog.read_commits(bare, [head], EXCLUDED)  # git log's own order: one reader
    assert chunks == []


def test_commits_neither_end_read_are_read_at_the_end(
    sample_history: SampleHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each end stops where the other has been; if their orders disagreed, what lies between is read after."""
    bare, head = sample_history.repo.bare, sample_history.repo.head()
    expected = gitlog.read_commits(bare, [head], EXCLUDED)
    order = [r.sha for r in expected]
    # The root-up side gets an order that is not the reverse of git log's: its first chunk is the
    # head's parent and the head, which the head-down side hands out first.
    scrambled = order[2:] + order[:2]
    monkeypatch.setattr(logstream, "_rev_list", lambda mirror, revs: list(scrambled))
    # The head-down side hands out the head only; the root-up side stops at the head too.
    real = logstream._log

    def log(mirror, args, stdin, *rest):
        return iter(expected[:1]) if stdin is None else real(mirror, args, stdin, *rest)

    monkeypatch.setattr(logstream, "_log", log)
    read: list[list[str]] = []
    real_shas = logstream._log_shas
    monkeypatch.setattr(logstream, "_log_shas", lambda m, shas, *a: read.append(shas) or real_shas(m, shas, *a))

    records = [r for b in logstream.stream_commits_from_both_ends(bare, head, EXCLUDED, chunk=2, minimum=2) for r in b]
    assert _by_sha(records) == _by_sha(expected)
    assert len(records) == 7
    # The root-up side read the head's parent and the head, then the five in between were read.
    assert read == [[order[1], order[0]], order[2:]]


def test_two_ends_meet_and_stop() -> None:
    """Driven step by step: each end hands out what the other has not, and both stop once they meet."""
    shas = [f"{n:040x}" for n in range(6)]
    records = [type("Record", (), {"sha": sha})() for sha in shas]
    meeting = logstream._Meeting()
    closed: list[str] = []

    def source(items: list, name: str):
        try:
            yield from items
        finally:
            closed.append(name)

    down = meeting.take(0, source(records, "down"))
    up = meeting.take(1, source(records[::-1], "up"))
    handed = [next(down).sha, next(up).sha, next(down).sha, next(up).sha, next(down).sha, next(up).sha]
    assert sorted(handed) == shas  # six steps, six different commits
    with pytest.raises(StopIteration):
        next(down)  # its next is one the other end handed out
    assert meeting.met.is_set()
    with pytest.raises(StopIteration):
        next(up)
    assert sorted(closed) == ["down", "up"]  # both sources closed: their git processes are stopped
    assert all(meeting.handed(sha) for sha in shas)
