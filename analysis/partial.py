"""Partial mirrors: a shallow, blobless clone reaching back just to the last ingested HEAD.

A worker with an empty disk clones `--filter=blob:none` history only down to the commit the
database already holds (first `--shallow-since` its date, then `--deepen` a few times); git
then fetches the blobs that numstat needs, a commit at a time, and LOC fetches only the blobs
it has never counted, in one request. Any doubt (the server ignores the filter, the stored
HEAD is not found: a force-push) means the caller falls back to a complete clone.

Also the other incomplete views of a remote: a depth-1 snapshot of a branch's tip (its tree is
counted while a whole history is cloned) and the listing of `git ls-remote --symref`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from analysis.gitcmd import GitError, Limits, Mirror, out_of_space, remote_options, run_git

log = logging.getLogger(__name__)

FIRST_DEPTH = 64
DEEPEN_ROUNDS = 3
# Margin before the stored HEAD's commit date, for clock skew between committers.
SINCE_MARGIN = timedelta(days=2)
PREFETCH_CHUNK = 5000
REFUSED = b"filtering not recognized by server"


def is_blobless(mirror: Mirror) -> bool:
    """Tell whether a mirror was cloned with a filter (objects missing, fetched on demand)."""
    if mirror.blobless is not None:
        return mirror.blobless
    config = config_text(mirror.path)  # what git wrote when it cloned: read without starting git
    if config is not None and "promisor" not in config:
        return False
    return mirror.git(["config", "--get", "remote.origin.promisor"], check=False).stdout.strip() == b"true"


def config_text(path: Path) -> str | None:
    """Return a repository's own config file as git wrote it (None when it cannot be read)."""
    try:
        return (path / "config").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def is_partial(mirror: Mirror) -> bool:
    """Tell whether a mirror was cloned with a filter or shallow (some objects or history missing)."""
    return (mirror.path / "shallow").exists() or is_blobless(mirror)


def shallow_boundary(path: Path) -> set[str]:
    """Return the commits whose parents a shallow repository does not have."""
    try:
        return set((path / "shallow").read_text().split())
    except FileNotFoundError:
        return set()


def reaches(mirror: Mirror, known_head: str, tip: str = "HEAD") -> bool:
    """Tell whether `known_head` is reachable from HEAD and every newer commit has its parents here.

    Only commits already present are walked (a walk stops at the shallow boundary), so no
    object is fetched from the remote.
    """
    shas = mirror.git(["rev-list", "--end-of-options", tip, "--"]).stdout.decode().split()
    if known_head not in shas:
        return False
    newer = mirror.git(["rev-list", "--end-of-options", tip, f"^{known_head}", "--"]).stdout.decode().split()
    return not (shallow_boundary(mirror.path) & set(newer))


def clone(
    target: Path,
    clone_url: str,
    env: dict[str, str],
    secrets: tuple[str, ...],
    timeout: float,
    known_head: str,
    since: datetime | None,
) -> bool:
    """Clone a blobless, shallow bare mirror into `target` reaching `known_head`; tell whether it does.

    False (leaving `target` for the caller to delete) when the server ignored the filter or the
    stored HEAD stayed out of reach after a few deepenings.
    """
    base = [*remote_options(clone_url), "clone", "--bare", "--no-tags", "--quiet", "--filter=blob:none"]
    first = [f"--shallow-since={int((since - SINCE_MARGIN).timestamp())}"] if since else [f"--depth={FIRST_DEPTH}"]
    try:
        done = run_git([*base, *first, "--", clone_url, str(target)], cwd=target.parent, auth_env=env,
                       timeout=timeout, secrets=secrets)  # fmt: skip
    except GitError as error:
        if not since:
            raise
        log.info("shallow-since clone failed (%s); trying a depth", error)
        done = run_git([*base, f"--depth={FIRST_DEPTH}", "--", clone_url, str(target)], cwd=target.parent,
                       auth_env=env, timeout=timeout, secrets=secrets)  # fmt: skip
    mirror = Mirror(target, timeout, secrets, "partial", env)
    # A server without uploadpack.allowFilter sends every blob; git still marks the clone partial.
    if REFUSED in done.stderr or not is_blobless(mirror):
        log.info("the server ignored the blob filter; a complete clone follows")
        return False
    depth = FIRST_DEPTH
    for _ in range(DEEPEN_ROUNDS + 1):
        if reaches(mirror, known_head):
            return True
        if not (target / "shallow").exists():
            return False  # the whole history is here and the stored HEAD is not in it
        fetch = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", f"--deepen={depth}", "origin"]
        run_git([f"--git-dir={target}", *remote_options(clone_url), *fetch], cwd=target, auth_env=env,
                timeout=timeout, secrets=secrets)  # fmt: skip
        depth *= 4
    return reaches(mirror, known_head)


@dataclass(frozen=True)
class Remote:
    """How git reaches a remote: its URL, the environment for it, the secrets its messages may hold, its timeout."""

    url: str
    env: dict[str, str]
    secrets: tuple[str, ...]
    timeout: float


def snapshot(target: Path, remote: Remote, limits: Limits, branch: str | None) -> Mirror:
    """Clone `branch` (else the remote's HEAD) at depth 1, bare, into `target`; return it as a Mirror."""
    args = [*remote_options(remote.url), *limits.git_options(), "clone", "--bare", "--no-tags", "--quiet", "--depth=1",
            *([f"--branch={branch}"] if branch else []), "--", remote.url, str(target)]  # fmt: skip
    try:
        run_git(args, cwd=target.parent, auth_env=remote.env, timeout=remote.timeout, secrets=remote.secrets,
                limits=limits)  # fmt: skip
    except GitError as error:
        raise out_of_space(error) or error from None
    return Mirror(target, remote.timeout, remote.secrets, "snapshot", remote.env, limits=limits, blobless=False)


def prefetch(mirror: Mirror, shas: Iterable[str]) -> None:
    """Fetch objects by id from the promisor remote in few requests (those never counted are all missing)."""
    wanted = sorted(set(shas))
    if not wanted:
        return
    # No presence check first: asking git about a missing object in a partial clone fetches it alone.
    missing = wanted
    for start in range(0, len(missing), PREFETCH_CHUNK):
        chunk = missing[start : start + PREFETCH_CHUNK]
        fetch = ["-c", "fetch.negotiationAlgorithm=noop", "fetch", "origin", "--quiet", "--no-tags",
                 "--no-write-fetch-head", "--recurse-submodules=no", "--filter=blob:none", "--stdin"]  # fmt: skip
        mirror.git(fetch, input="".join(f"{sha}\n" for sha in chunk).encode())


def prefetch_diffs(mirror: Mirror, revs: list[str]) -> int:
    """Fetch in one request the blobs that `git log --numstat` of these commits reads; return how many.

    Both sides of every change of every non-merge commit (renames are found among them), listed
    from trees alone; otherwise git would fetch each blob in its own request as the log needs it.
    """
    commits = mirror.git(["rev-list", "--no-merges", "--end-of-options", *revs, "--"]).stdout
    if not commits.strip():
        return 0
    listing = mirror.git(["diff-tree", "-r", "--root", "--no-renames", "-z", "--stdin"], input=commits).stdout
    wanted: set[str] = set()
    tokens = iter(listing.split(b"\0"))
    for token in tokens:
        if not token.startswith(b":"):
            continue  # a commit id
        next(tokens, None)  # the path
        old_mode, new_mode, old, new, _status = token[1:].decode().split(" ")
        for mode, sha in ((old_mode, old), (new_mode, new)):
            if mode.startswith("100") and sha.strip("0"):
                wanted.add(sha)
    prefetch(mirror, wanted)
    return len(wanted)


def blob_sizes(mirror: Mirror, shas: Iterable[str]) -> dict[str, int]:
    """Return the size in bytes of each blob (all present: call `prefetch` first)."""
    wanted = sorted(set(shas))
    if not wanted:
        return {}
    out = mirror.git(
        ["cat-file", "--batch-check=%(objectname) %(objectsize)", "--buffer"],
        input="".join(f"{sha}\n" for sha in wanted).encode(),
    ).stdout.decode()
    sizes = {}
    for line in out.splitlines():
        sha, _, size = line.partition(" ")
        if size.isdigit():
            sizes[sha] = int(size)
    return sizes


def parse_ls_remote(text: str) -> tuple[str | None, dict[str, str]]:
    """Return (HEAD's target ref or None, {refs/heads/<name>: sha}) from `git ls-remote --symref` output."""
    head_ref: str | None = None
    heads: dict[str, str] = {}
    for line in text.splitlines():
        left, _, name = line.partition("\t")
        if left.startswith("ref: ") and name == "HEAD":
            head_ref = left.removeprefix("ref: ")
        elif name.startswith("refs/heads/"):
            heads[name] = left
    return head_ref, heads
