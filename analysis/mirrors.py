"""Keep one bare git mirror per repository on disk: cloned once, fetched incrementally, evicted LRU."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from analysis import partial
from analysis.gitcmd import (
    BIG_FILE_BYTES,
    NO_LIMITS,
    GitAuth,
    GitError,
    Limits,
    Mirror,
    UrlPolicy,
    check_clone_url,
    git_env,
    looks_corrupt,
    out_of_space,
    remote_options,
    run_git,
)

log = logging.getLogger(__name__)

KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
STAMP = "tracker-last-used"
HEADS_REFSPEC = "+refs/heads/*:refs/heads/*"


def check_key(key: str) -> None:
    """Refuse a mirror key that is not a short safe file name."""
    if not isinstance(key, str) or not KEY_RE.fullmatch(key):
        raise ValueError(f"invalid mirror key {key!r}: use letters, digits, '.', '_' and '-' only")


def dir_size(path: Path) -> int:
    """Return the total apparent size in bytes of the files under `path`."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


class RepoCache:
    """A directory of bare mirrors, one per repository key, with per-key locks and LRU eviction.

    Layout: root/mirrors/<key>.git (complete mirrors only), root/locks/<key>.lock (flock targets,
    never deleted), root/tmp/<key>/ (clones in progress and mirrors being deleted; only touched
    under the key's lock).
    """

    def __init__(
        self,
        root: Path,
        *,
        max_bytes: int,
        git_timeout: float,
        secrets: Iterable[str] = (),
        lock_timeout: float | None = None,
        policy: UrlPolicy | None = None,
        limits: Limits = NO_LIMITS,
        big_file_bytes: int = BIG_FILE_BYTES,
    ) -> None:
        self.root = Path(root)
        self.policy = policy  # None: any URL check_clone_url accepts (library use and tests)
        self.limits = limits
        self.big_file_bytes = big_file_bytes
        self.max_bytes = max_bytes
        self.git_timeout = git_timeout
        self.secrets = tuple(s for s in secrets if s)
        # A waiter may sit behind one clone/fetch plus the reads its holder does under the lock.
        self.lock_timeout = 2 * git_timeout if lock_timeout is None else lock_timeout
        for sub in ("mirrors", "locks", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def mirror_path(self, key: str) -> Path:
        """Return where the mirror of `key` lives."""
        check_key(key)
        return self.root / "mirrors" / f"{key}.git"

    @contextlib.contextmanager
    def open(
        self,
        key: str,
        clone_url: str,
        auth: GitAuth | None = None,
        *,
        default_branch: str | None = None,
        known_head: str | None = None,
        since: datetime | None = None,
        complete: bool = False,
        expected_bytes: int | None = None,
    ) -> Iterator[Mirror]:
        """Lock, clone or fetch the mirror of `key`, and yield it; evict LRU mirrors afterwards.

        HEAD follows `default_branch` when given (e.g. from the GitHub API); otherwise it stays as
        cloned unless its branch disappears upstream, when the remote's HEAD is asked for.
        Without a mirror on disk and with `known_head` (a commit already ingested, committed at
        `since`), a partial mirror reaching back to it is cloned (action "partial"). `complete`
        replaces a partial mirror by a complete one. `expected_bytes` (GitHub's `size`) is checked
        against max_bytes, and room is made for it by eviction, before a clone.
        """
        secrets = self._checked(key, clone_url, auth)
        try:
            with self._locked(key):
                if complete:
                    self._drop_partial(key, secrets)
                if not self.mirror_path(key).exists():
                    self.make_room(key, expected_bytes or 0)
                mirror, heads = None, None
                if known_head and not self.mirror_path(key).exists():
                    mirror = self._clone_partial(key, clone_url, auth, secrets, known_head, since)
                if mirror is None:
                    mirror, heads = self._sync(key, clone_url, auth, secrets)
                mirror = replace(mirror, big_file_bytes=self.big_file_bytes, limits=self.limits)
                self._point_head(mirror, clone_url, self._remote_env(clone_url, auth), default_branch, heads)
                os.utime(mirror.path / STAMP)
                yield mirror
        finally:
            try:
                self.evict(keep=key)
            except OSError:
                log.exception("evicting git mirrors under %s failed", self.root)

    def _checked(self, key: str, url: str, auth: GitAuth | None) -> tuple[str, ...]:
        """Refuse a bad key or URL (and one the policy forbids); return the secrets git's messages must not show."""
        check_key(key)
        check_clone_url(url)
        if self.policy is not None:
            self.policy.check(url)
        return self.secrets + ((auth.token,) if auth is not None and auth.token else ())

    @contextlib.contextmanager
    def snapshot(self, key: str, url: str, auth: GitAuth | None = None, branch: str | None = None) -> Iterator[Mirror]:
        """Yield a depth-1 bare clone of `branch` (else the remote's HEAD) in a temporary directory of its own
        (root/tmp/<key>/ is the clone's), deleted afterwards: its tree can be counted while the history is cloned."""
        secrets = self._checked(key, url, auth)
        with tempfile.TemporaryDirectory(prefix="pt-snapshot-") as scratch:
            remote = partial.Remote(url, self._remote_env(url, auth), secrets, self.git_timeout)
            taken = partial.snapshot(Path(scratch) / f"{key}.git", remote, self.limits, branch)
            yield replace(taken, big_file_bytes=self.big_file_bytes)

    def make_room(self, key: str, expected_bytes: int) -> None:
        """Before cloning `key`: refuse a repository larger than the cache, else evict to fit it."""
        if expected_bytes > self.max_bytes:
            raise GitError(
                f"repository is {expected_bytes / 1024**2:.0f} MB, larger than the mirror cache "
                f"({self.max_bytes / 1024**2:.0f} MB, CACHE_MAX_GB): not cloned"
            )
        self.evict(keep=key, reserve=expected_bytes)

    def _remote_env(self, clone_url: str, auth: GitAuth | None) -> dict[str, str]:
        """Return the environment of a command that talks to the remote: token and allowed transports."""
        return git_env(clone_url, auth) | (self.policy.env() if self.policy is not None else {})

    def evict(self, keep: str | None = None, reserve: int = 0) -> list[str]:
        """Remove LRU unlocked mirrors until root/mirrors fits max_bytes - reserve; return their keys."""
        self._clear_stale_tmp()
        entries = []
        for path in (self.root / "mirrors").iterdir():
            if path.name.endswith(".git") and path.is_dir():
                entries.append((self._last_used(path), path.name[: -len(".git")], dir_size(path)))
        total = sum(size for _used, _key, size in entries)
        removed: list[str] = []
        for _used, key, size in sorted(entries):
            if total + reserve <= self.max_bytes:
                break
            if key == keep:
                continue
            with self._try_locked(key) as locked:
                if locked and self.mirror_path(key).exists():
                    self._discard(key, self.mirror_path(key))
                    total -= size
                    removed.append(key)
        return removed

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        """Hold the exclusive lock of `key`, waiting at most lock_timeout for it."""
        fd = os.open(self.root / "locks" / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + self.lock_timeout
            delay = 0.01
            while not _try_flock(fd):
                if time.monotonic() >= deadline:
                    raise GitError(f"timed out after {self.lock_timeout:g} s waiting for the lock of mirror {key}")
                time.sleep(delay)
                delay = min(delay * 2, 0.25)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _try_locked(self, key: str) -> Iterator[bool]:
        """Hold the lock of `key` if it is free right now; yield whether it was taken."""
        fd = os.open(self.root / "locks" / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            locked = _try_flock(fd)
            try:
                yield locked
            finally:
                if locked:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _sync(
        self, key: str, clone_url: str, auth: GitAuth | None, secrets: tuple[str, ...]
    ) -> tuple[Mirror, dict[str, str] | None]:
        """Bring the mirror of `key` up to date (cloning or re-cloning it if needed).

        Return it and its branch heads when the fetch listed them (None otherwise).
        """
        path = self.mirror_path(key)
        shutil.rmtree(self.root / "tmp" / key, ignore_errors=True)
        env = self._remote_env(clone_url, auth)
        before = self._healthy(path, secrets) if path.exists() else None
        if path.exists() and before is None:
            log.warning("git mirror %s is damaged; cloning it again", key)
            self._discard(key, path)
        if before is None:
            self._clone(key, clone_url, env, secrets)
            return Mirror(path, self.git_timeout, secrets, "cloned", env, blobless=False), None
        try:
            action, heads = self._fetch(path, clone_url, env, secrets, before)
        except GitError as error:
            if not looks_corrupt(str(error)):
                raise
            log.warning("fetching git mirror %s failed (%s); cloning it again", key, error)
            self._discard(key, path)
            self._clone(key, clone_url, env, secrets)
            return Mirror(path, self.git_timeout, secrets, "cloned", env, blobless=False), None
        mirror = Mirror(path, self.git_timeout, secrets, action, env)
        return replace(mirror, blobless=partial.is_blobless(mirror)), heads

    def _drop_partial(self, key: str, secrets: tuple[str, ...]) -> None:
        """Discard the mirror of `key` if it is partial (the caller holds the key's lock)."""
        path = self.mirror_path(key)
        if path.exists() and partial.is_partial(Mirror(path, self.git_timeout, secrets)):
            self._discard(key, path)

    def _clone_partial(
        self,
        key: str,
        clone_url: str,
        auth: GitAuth | None,
        secrets: tuple[str, ...],
        known_head: str,
        since: datetime | None,
    ) -> Mirror | None:
        """Clone a blobless mirror reaching back to `known_head` into place; None when that cannot be done."""
        shutil.rmtree(self.root / "tmp" / key, ignore_errors=True)
        env = git_env(clone_url, auth)
        tmp = self.root / "tmp" / key / f"partial-{uuid.uuid4().hex}"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        try:
            try:
                if not partial.clone(tmp, clone_url, env, secrets, self.git_timeout, known_head, since):
                    return None
            except GitError as error:
                log.info("partial clone of %s failed (%s); cloning it completely", key, error)
                return None
            mirror = Mirror(tmp, self.git_timeout, secrets)
            mirror.git(["config", "remote.origin.fetch", HEADS_REFSPEC])
            mirror.git(["config", "remote.origin.tagOpt", "--no-tags"])
            (tmp / STAMP).touch()
            os.rename(tmp, self.mirror_path(key))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return Mirror(self.mirror_path(key), self.git_timeout, secrets, "partial", env, blobless=True)

    def _healthy(self, path: Path, secrets: tuple[str, ...]) -> dict[str, str] | None:
        """Return the branch heads of `path` if it is a usable bare repository whose heads all exist, else None."""
        if not all((path / name).exists() for name in ("HEAD", "objects", "refs", "config", STAMP)):
            return None
        # Ours (STAMP) and git can read every head's object: usable (git is told the directory).
        return Mirror(path, self.git_timeout, secrets).checked_heads()

    def _clone(self, key: str, clone_url: str, env: dict[str, str], secrets: tuple[str, ...]) -> None:
        """Clone into a temporary directory and rename it into place, so no half mirror is ever visible."""
        tmp = self.root / "tmp" / key / f"clone-{uuid.uuid4().hex}"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        try:
            args = [
                *remote_options(clone_url),
                *self.limits.git_options(),
                "clone",
                "--bare",
                "--no-tags",
                "--quiet",
                "--",
                clone_url,
                str(tmp),
            ]
            try:
                run_git(args, cwd=tmp.parent, auth_env=env, timeout=self.git_timeout, secrets=secrets,
                        limits=self.limits)  # fmt: skip
            except GitError as error:
                raise out_of_space(error) or error from None
            mirror = Mirror(tmp, self.git_timeout, secrets)
            mirror.git(["config", "remote.origin.fetch", HEADS_REFSPEC])
            mirror.git(["config", "remote.origin.tagOpt", "--no-tags"])
            (tmp / STAMP).touch()
            os.rename(tmp, self.mirror_path(key))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _fetch(
        self, path: Path, clone_url: str, env: dict[str, str], secrets: tuple[str, ...], before: dict[str, str]
    ) -> tuple[str, dict[str, str]]:
        """Fetch new objects and all branch heads (forced, pruned) over `before`; return the action and heads."""
        mirror = Mirror(path, self.git_timeout, secrets)
        # With a refs/heads/ refspec git asks the server for branch heads only (not refs/pull/*),
        # and when they are all known locally no pack is requested: one round trip.
        fetch = ["fetch", "--prune", "--no-tags", "--quiet", "--no-write-fetch-head", clone_url, HEADS_REFSPEC]
        args = [f"--git-dir={path}", *remote_options(clone_url), *self.limits.git_options(), *fetch]
        run_git(args, cwd=path, auth_env=env, timeout=self.git_timeout, secrets=secrets, limits=self.limits)
        heads = mirror.heads()
        if heads == before:
            return "unchanged", heads
        if f"\turl = {clone_url}\n" not in (partial.config_text(path) or ""):  # a partial mirror's lazy fetches use it
            mirror.git(["config", "remote.origin.url", clone_url])
        return "fetched", heads

    def _point_head(
        self,
        mirror: Mirror,
        clone_url: str,
        env: dict[str, str],
        default_branch: str | None,
        heads: dict[str, str] | None = None,
    ) -> None:
        """Point HEAD at `default_branch` if given, else follow the remote's HEAD when ours dangles."""
        heads = mirror.heads() if heads is None else heads
        current = mirror.head_ref()
        wanted = f"refs/heads/{default_branch}" if default_branch else current
        if wanted not in heads and heads:  # e.g. the default branch was renamed upstream
            opts = remote_options(clone_url)
            args = [*opts, "ls-remote", "--symref", clone_url, "HEAD"]
            listing = run_git(args, cwd=mirror.path, auth_env=env, timeout=self.git_timeout, secrets=mirror.secrets)
            wanted = partial.parse_ls_remote(listing.stdout.decode("utf-8", "replace"))[0] or current
        if wanted != current and wanted in heads:
            mirror.git(["symbolic-ref", "HEAD", wanted])

    def _discard(self, key: str, path: Path) -> None:
        """Move a mirror out of mirrors/ (atomically) and delete it; the caller holds the key's lock."""
        dead = self.root / "tmp" / key / f"dead-{uuid.uuid4().hex}"
        dead.parent.mkdir(parents=True, exist_ok=True)
        os.rename(path, dead)
        shutil.rmtree(dead, ignore_errors=True)

    def _clear_stale_tmp(self) -> None:
        """Delete leftovers of killed clones whose key is not locked by anyone."""
        for entry in (self.root / "tmp").iterdir():
            if entry.is_dir() and KEY_RE.fullmatch(entry.name):
                with self._try_locked(entry.name) as locked:
                    if locked:
                        shutil.rmtree(entry, ignore_errors=True)

    @staticmethod
    def _last_used(path: Path) -> float:
        """Return when a mirror was last opened (its stamp's mtime, else the directory's)."""
        try:
            return (path / STAMP).stat().st_mtime
        except OSError:
            return path.stat().st_mtime


def _try_flock(fd: int) -> bool:
    """Take an exclusive flock on `fd` without waiting; tell whether it was taken."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
