"""Read commit history with numstat from a git repository, in full or incrementally."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context

from analysis.gitcmd import GitError, Mirror, as_mirror
from analysis.numstat import LOG_FORMAT, CommitRecord, excluded_set, parse_log

Repo = Mirror | str | os.PathLike[str]
SHA_RE = re.compile(r"[0-9a-fA-F]{4,64}")
REV_RE = re.compile(r"\^?[A-Za-z0-9][A-Za-z0-9._/-]*")
# Everything that could change the numbers is explicit here, so user or repository config cannot:
# rename detection on (git's default), root commit diffed, no diff for merges, no textconv/ext-diff.
LOG_ARGS = [
    "-c",
    "log.showSignature=false",
    "-c",
    "core.quotePath=false",
    "-c",
    "diff.renames=true",
    "log",
    "-z",
    "--numstat",
    "-M",
    "--root",
    "--diff-merges=off",
    "--diff-algorithm=myers",
    "--no-ext-diff",
    "--no-textconv",
    "--no-color",
    "--no-notes",
    "--encoding=UTF-8",
    f"--format={LOG_FORMAT}",
]
# Below this many commits per chunk, an extra git process costs more than it saves.
MIN_CHUNK = 2000


def _check_revs(revs: Iterable[str]) -> list[str]:
    """Return the revisions as a list, refusing anything that git could read as an option."""
    checked = list(revs)
    for rev in checked:
        if not REV_RE.fullmatch(rev) or ".." in rev:
            raise ValueError(f"invalid revision {rev!r}")
    return checked


def _decode(data: bytes) -> str:
    """Decode git output; invalid UTF-8 (old commits, odd paths) becomes U+FFFD."""
    return data.decode("utf-8", "replace")


def rev_list(repo: Repo, head: str) -> list[str]:
    """Return the shas of all commits reachable from `head`, newest first (git's default order)."""
    return _rev_list(as_mirror(repo), [head])


def _rev_list(mirror: Mirror, revs: list[str]) -> list[str]:
    """Return the shas `git rev-list <revs>` walks, in its order."""
    out = mirror.git(["rev-list", "--end-of-options", *_check_revs(revs), "--"]).stdout
    return out.decode().split()


def commit_exists(repo: Repo, sha: str) -> bool:
    """Tell whether `sha` (or a branch name) names a commit present in the repository."""
    if not REV_RE.fullmatch(sha) or sha.startswith("^") or ".." in sha:
        return False
    return as_mirror(repo).git(["cat-file", "-e", f"{sha}^{{commit}}"], check=False).returncode == 0


def is_ancestor(repo: Repo, old: str, new: str) -> bool:
    """Tell whether `old` is reachable from `new`; False (not an error) when `old` is gone."""
    mirror = as_mirror(repo)
    for rev in (old, new):
        if not REV_RE.fullmatch(rev) or rev.startswith("^") or ".." in rev:
            return False
    # One process in the usual case; only a failure asks whether the commits exist at all.
    result = mirror.git(["merge-base", "--is-ancestor", "--end-of-options", old, new], check=False)
    if result.returncode in (0, 1):
        return result.returncode == 0
    if not commit_exists(mirror, old) or not commit_exists(mirror, new):
        return False
    if result.returncode not in (0, 1):
        raise GitError(f"git merge-base failed (exit {result.returncode}): {_decode(result.stderr).strip()}")
    return result.returncode == 0


def mailmap_blob(repo: Repo, head: str = "HEAD") -> str | None:
    """Return the blob sha of `head`'s .mailmap (None without one).

    Identities are read through the mailmap of the mirror's HEAD (git's default for bare
    repositories), so stored identities are stale when this changes: re-read all commits then.
    """
    if not REV_RE.fullmatch(head) or head.startswith("^"):
        raise ValueError(f"invalid revision {head!r}")
    result = as_mirror(repo).git(
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{head}:.mailmap"], check=False
    )
    sha = result.stdout.decode().strip()
    return sha if result.returncode == 0 and sha else None


def read_commits(
    repo: Repo,
    revs: list[str],
    excluded_dirs: Iterable[str],
    jobs: int = 1,
    *,
    min_chunk: int = MIN_CHUNK,
) -> list[CommitRecord]:
    """Return the commits `git log <revs>` shows (e.g. [new] or [new, "^" + old]), newest first.

    With jobs > 1 and at least 2 * min_chunk commits, the sha list is split into chunks read by
    parallel git processes; the result is identical to jobs=1.
    """
    mirror = as_mirror(repo)
    revs = _check_revs(revs)
    if not revs:
        return []
    if jobs <= 1:
        out = mirror.git([*LOG_ARGS, "--end-of-options", *revs, "--"]).stdout
        return parse_log(_decode(out), excluded_set(excluded_dirs))
    shas = _rev_list(mirror, revs)
    return read_commits_by_sha(mirror, shas, excluded_dirs, jobs, min_chunk=min_chunk)


def read_commits_by_sha(
    repo: Repo,
    shas: Iterable[str],
    excluded_dirs: Iterable[str],
    jobs: int = 1,
    *,
    min_chunk: int = MIN_CHUNK,
) -> list[CommitRecord]:
    """Return the records of exactly these commits, in the given order (duplicates dropped)."""
    mirror = as_mirror(repo)
    excluded = excluded_set(excluded_dirs)
    chunks = split_chunks(checked_shas(shas), jobs, min_chunk)
    if len(chunks) <= 1:
        return [record for chunk in chunks for record in _log_shas(mirror, chunk, excluded)]
    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        # Each thread runs in a copy of this context, so its spans and log records stay this job's.
        parts = list(pool.map(lambda chunk: copy_context().run(_log_shas, mirror, chunk, excluded), chunks))
    return [record for part in parts for record in part]


def checked_shas(shas: Iterable[str]) -> list[str]:
    """Return the shas in order without duplicates; raise ValueError on one that is not a sha."""
    wanted = list(dict.fromkeys(shas))
    for sha in wanted:
        if not SHA_RE.fullmatch(sha):
            raise ValueError(f"invalid commit sha {sha!r}")
    return wanted


def split_chunks(items: list[str], jobs: int, min_chunk: int) -> list[list[str]]:
    """Split items into at most `jobs` contiguous chunks of at least `min_chunk` items (one chunk if few)."""
    if not items:
        return []
    count = max(1, min(jobs, len(items) // max(1, min_chunk)))
    size = -(-len(items) // count)
    return [items[start : start + size] for start in range(0, len(items), size)]


def _log_shas(mirror: Mirror, shas: list[str], excluded: Iterable[str]) -> list[CommitRecord]:
    """Run one `git log --no-walk=unsorted --stdin` over the shas and parse it."""
    if not shas:
        return []  # an empty --stdin would make git log default to HEAD
    data = "".join(f"{sha}\n" for sha in shas).encode()
    out = mirror.git([*LOG_ARGS, "--no-walk=unsorted", "--stdin"], input=data).stdout
    return parse_log(_decode(out), excluded)
