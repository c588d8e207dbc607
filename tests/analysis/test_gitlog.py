"""Tests for reading and parsing commit history (gitlog.py, numstat.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from analysis.gitcmd import GitError
from analysis.gitlog import is_ancestor, mailmap_blob, read_commits, read_commits_by_sha, rev_list
from analysis.numstat import LOG_FORMAT, CommitRecord, parse_log, path_excluded
from tests.fixtures_git import EXCLUDED_DIRS, MAILMAP, MAILMAP_TEXT, SampleHistory
from tests.gitexpect import BOB, ScriptedCommit, expected_active_days, expected_churn, expected_time_spent_minutes
from tests.gitrepos import RepoBuilder

SHA_A = "a" * 40
SHA_B = "b" * 40
SHA_C = "c" * 40


def header(sha: str, parents: str = "", subject: str = "subject", at: int = 1700000000) -> str:
    """Return one commit's format fields as `git log -z` prints them (leading NUL included)."""
    return "\0" + "\0".join([sha, parents, "Ann", "ann@x", str(at), "Cid", "cid@x", str(at + 60), subject])


def expected_record(commit: ScriptedCommit) -> CommitRecord:
    """Return the CommitRecord a scripted commit should read back as (mailmap applied)."""
    author = MAILMAP.get(commit.author, commit.author)
    committer = MAILMAP.get(commit.committer, commit.committer)
    return CommitRecord(
        sha=commit.sha,
        parents=commit.parents,
        author_name=author.name,
        author_email=author.email,
        authored_at=commit.authored_at.astimezone(UTC),
        committer_name=committer.name,
        committer_email=committer.email,
        committed_at=commit.committed_at.astimezone(UTC),
        subject=commit.subject,
        is_merge=commit.is_merge,
        additions=commit.additions,
        deletions=commit.deletions,
        files_changed=commit.files_changed,
        churn=commit.churn(EXCLUDED_DIRS),
    )


# -- pure parser ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("node_modules/x.js", True),
        ("a/b/node_modules/x.js", True),
        ("a/build/x", True),
        (".github/workflows/ci.yml", True),
        ("build", False),  # a file named like an excluded directory is not under it
        ("src/build.py", False),
        ("src/node_modules_extra/x.js", False),
        ("Build/x.c", False),  # names are case-sensitive
        ("x.py", False),
    ],
)
def test_path_excluded(path: str, excluded: bool) -> None:
    assert path_excluded(path, EXCLUDED_DIRS) is excluded


def test_parse_log_sums_numstat_and_excludes_dirs() -> None:
    text = header(SHA_A, SHA_B) + "\0\n3\t1\tsrc/a.py\0" + "10\t2\tnode_modules/m.js\0" + "-\t-\timg/x.png\0"
    [record] = parse_log(text, EXCLUDED_DIRS)
    assert (record.additions, record.deletions, record.files_changed, record.churn) == (13, 3, 3, 4)
    assert record.parents == (SHA_B,) and not record.is_merge
    assert record.committed_at == datetime.fromtimestamp(1700000060, tz=UTC)
    assert record.authored_at.tzinfo is UTC


def test_parse_log_renames_count_against_the_new_path() -> None:
    into_excluded = "\0\n1\t1\t\0src/old.js\0build/old.js\0"
    out_of_excluded = "2\t0\t\0build/gen.py\0src/gen.py\0"
    text = header(SHA_A) + into_excluded + out_of_excluded
    [record] = parse_log(text, EXCLUDED_DIRS)
    assert (record.additions, record.deletions, record.files_changed, record.churn) == (3, 1, 2, 2)


@pytest.mark.parametrize(
    "path",
    ["with space.py", "tab\there.py", "ünïcødé/文件.py", "a => b.py", "{x => y}/z.py", "-\t-\tfake"],
)
def test_parse_log_odd_file_names(path: str) -> None:
    text = header(SHA_A) + f"\0\n4\t5\t{path}\0" + "1\t0\t\0" + f"old {path}\0new {path}\0"
    [record] = parse_log(text, ())
    assert (record.additions, record.deletions, record.files_changed, record.churn) == (5, 5, 2, 10)


def test_parse_log_merges_empty_subjects_and_commits_without_files() -> None:
    text = (
        header(SHA_A, f"{SHA_B} {SHA_C}", subject="Merge")  # merge: git prints no numstat
        + "\0"
        + header(SHA_B, SHA_C, subject="")  # empty message, no files
        + "\0"
        + header(SHA_C, subject="root => commit\twith tab")
        + "\0\n1\t0\tREADME\0"
    )
    merge, empty, root = parse_log(text, EXCLUDED_DIRS)
    assert merge.is_merge and merge.parents == (SHA_B, SHA_C) and merge.churn == 0 and merge.subject == "Merge"
    assert empty.subject == "" and empty.files_changed == 0 and empty.parents == (SHA_C,)
    assert root.parents == () and root.subject == "root => commit\twith tab" and root.churn == 1


def test_parse_log_merge_churn_is_zero_even_with_numstat() -> None:
    [record] = parse_log(header(SHA_A, f"{SHA_B} {SHA_C}") + "\0\n5\t5\tx.py\0", ())
    assert record.churn == 0 and record.additions == 5


def test_parse_log_empty_and_garbage() -> None:
    assert parse_log("", EXCLUDED_DIRS) == []
    with pytest.raises(ValueError, match="unexpected git log output"):
        parse_log("not a log", EXCLUDED_DIRS)


def test_log_format_uses_mailmap_and_timestamps() -> None:
    assert LOG_FORMAT.split("%x00")[1:] == ["%H", "%P", "%aN", "%aE", "%at", "%cN", "%cE", "%ct", "%s"]


def test_parse_log_of_many_commits() -> None:
    commit = (
        header(SHA_A, SHA_B) + "\0\n12\t3\tsrc/module/file.py\0" + "4\t4\tnode_modules/x/y.js\0" + "1\t0\tREADME.md\0"
    )
    text = commit * 20_000
    records = parse_log(text, EXCLUDED_DIRS)
    assert len(records) == 20_000 and sum(r.churn for r in records) == 20_000 * 16


# -- against real repositories -------------------------------------------------------------------


def test_read_commits_matches_the_script(sample_history: SampleHistory) -> None:
    repo = sample_history.repo
    head = repo.head("main")
    records = read_commits(repo.bare, [head], EXCLUDED_DIRS)
    scripted = repo.history(head)
    assert {r.sha: r for r in records} == {c.sha: expected_record(c) for c in scripted}
    assert [r.sha for r in records] == rev_list(repo.bare, head)
    assert len(records) == 7


def test_sample_history_metrics(sample_history: SampleHistory) -> None:
    repo, c = sample_history.repo, sample_history.commits
    records = read_commits(repo.bare, [repo.head("main")], EXCLUDED_DIRS)
    scripted = repo.history("main")
    assert len(records) == len(scripted) == 7
    assert sum(r.churn for r in records) == expected_churn(scripted, EXCLUDED_DIRS)
    assert len({r.committed_at.date() for r in records}) == expected_active_days(scripted) == 4
    minutes = (max(r.committed_at for r in records) - min(r.committed_at for r in records)).total_seconds() / 60
    assert minutes == expected_time_spent_minutes(scripted)
    by_sha = {r.sha: r for r in records}
    assert by_sha[c["c2"].sha].churn == 6  # app.py 4+1 and the docs file; node_modules left out
    assert by_sha[c["c3"].sha].files_changed == 3 and by_sha[c["c3"].sha].churn == 3  # rename into build/
    assert by_sha[c["c1"].sha].author_email == "alice@example.com"  # .mailmap applied
    assert by_sha[c["merge"].sha].is_merge and by_sha[c["merge"].sha].files_changed == 0


def test_incremental_read_returns_exactly_the_new_commits(sample_history: SampleHistory) -> None:
    repo = sample_history.repo
    old = repo.head("main")
    repo.write("src/new.py", "x = 1\n")
    first = repo.commit("One more")
    repo.write("src/new.py", "x = 2\ny = 3\n")
    second = repo.commit("And another", author=BOB)
    repo.publish()
    new = repo.head("main")
    assert is_ancestor(repo.bare, old, new)
    records = read_commits(repo.bare, [new, "^" + old], EXCLUDED_DIRS)
    assert records == [expected_record(second), expected_record(first)]


def test_force_push_rewrite_reconciles_to_a_fresh_read(sample_history: SampleHistory) -> None:
    repo, c = sample_history.repo, sample_history.commits
    old = repo.head("main")
    stored = {r.sha: r for r in read_commits(repo.bare, [old], EXCLUDED_DIRS)}
    repo.reset_hard(c["c4"].sha)
    repo.write("web/index.js", "rewritten\n")
    repo.write(".mailmap", MAILMAP_TEXT)  # keep identities as they were stored
    repo.commit("Rewritten history")
    repo.publish()
    new = repo.head("main")
    assert not is_ancestor(repo.bare, old, new)
    reachable = rev_list(repo.bare, new)
    kept = {sha: r for sha, r in stored.items() if sha in set(reachable)}
    kept |= {r.sha: r for r in read_commits_by_sha(repo.bare, [s for s in reachable if s not in kept], EXCLUDED_DIRS)}
    fresh = read_commits(repo.bare, [new], EXCLUDED_DIRS)
    assert [kept[sha] for sha in reachable] == fresh
    assert {r.sha for r in fresh} == {commit.sha for commit in repo.history(new)}


def test_mailmap_blob_tells_when_identities_change(sample_history: SampleHistory) -> None:
    repo, c = sample_history.repo, sample_history.commits
    assert mailmap_blob(repo.bare, c["c4"].sha) is None
    current = mailmap_blob(repo.bare)
    assert current is not None and current == mailmap_blob(repo.bare, repo.head("main"))
    [old] = read_commits_by_sha(repo.bare, [c["c1"].sha], EXCLUDED_DIRS)
    assert old.author_email == "alice@example.com"


def test_is_ancestor_is_false_for_unknown_commits(sample_history: SampleHistory) -> None:
    repo, c = sample_history.repo, sample_history.commits
    head = repo.head("main")
    assert is_ancestor(repo.bare, c["c1"].sha, head)
    assert not is_ancestor(repo.bare, head, c["c1"].sha)
    assert not is_ancestor(repo.bare, "0123456789" * 4, head)


def test_parallel_read_equals_serial(make_repo: Callable[[str], RepoBuilder]) -> None:
    repo = make_repo("many")
    for i in range(40):
        repo.write(f"f{i % 7}.py", "".join(f"line {j}\n" for j in range(i + 1)))
        if i % 5 == 0:
            repo.write(f"node_modules/m{i}.js", "x\n")
        repo.commit(f"commit {i}")
    head = repo.head()
    serial = read_commits(repo.work, [head], EXCLUDED_DIRS)
    subset = rev_list(repo.work, head)[5:25]
    assert len(serial) == 40
    for jobs in (2, 3):
        assert read_commits(repo.work, [head], EXCLUDED_DIRS, jobs=jobs, min_chunk=1) == serial
        assert read_commits_by_sha(repo.work, subset, EXCLUDED_DIRS, jobs=jobs, min_chunk=1) == serial[5:25]
    assert read_commits(repo.work, [head], EXCLUDED_DIRS, jobs=2) == serial  # too few commits: one process


def test_read_commits_by_sha_handles_empty_and_duplicates(sample_history: SampleHistory) -> None:
    repo, c = sample_history.repo, sample_history.commits
    assert read_commits_by_sha(repo.bare, [], EXCLUDED_DIRS) == []
    records = read_commits_by_sha(repo.bare, [c["c2"].sha, c["c1"].sha, c["c2"].sha], EXCLUDED_DIRS)
    assert [r.sha for r in records] == [c["c2"].sha, c["c1"].sha]


@pytest.mark.parametrize("rev", ["--all", "-p", "a..b", "x y"])
def test_read_commits_refuses_option_like_revisions(sample_history: SampleHistory, rev: str) -> None:
    with pytest.raises(ValueError, match="invalid revision"):
        read_commits(sample_history.repo.bare, [rev], EXCLUDED_DIRS)


def test_read_commits_unknown_sha_raises_git_error(sample_history: SampleHistory) -> None:
    with pytest.raises(GitError, match="git log failed"):
        read_commits(sample_history.repo.bare, ["0123456789" * 4], EXCLUDED_DIRS)
    with pytest.raises(GitError, match="git log failed"):
        read_commits_by_sha(sample_history.repo.bare, ["0123456789" * 4], EXCLUDED_DIRS)
