"""Stream commit records out of `git log` in bounded batches, never holding the whole output.

One git process per chunk of the sha list (parallel on several cores), or two ends of one
history read at once; each is read as it writes, parsed token by token, and its records are
handed over in batches through a bounded queue, so memory stays flat however long the history is.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import queue
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import copy_context
from dataclasses import replace
from functools import partial
from typing import Any

from analysis.gitcmd import FALLBACK_BIG_FILE_BYTES, GitError, Mirror, as_mirror, base_env
from analysis.gitlog import LOG_ARGS, MIN_CHUNK, Repo, _check_revs, _rev_list, checked_shas, split_chunks
from analysis.limits import kill_group
from analysis.numstat import CommitRecord, excluded_set, iter_log
from infra.redaction import redact

log = logging.getLogger(__name__)

BATCH = 2000
READ_BYTES = 1 << 20
PIPE_BYTES = 1 << 20  # Linux's default cap for an unprivileged pipe (/proc/sys/fs/pipe-max-size)
QUEUE_BATCHES = 4
_DONE = object()
# Reading from both ends: commits per oldest-first git process, the shortest history read so,
# and the pack windows and delta cache of each of the two git processes (measured on git's own
# history and a 60,000-commit synthetic one: together about 250 MB, about one default git log).
ENDS_CHUNK = 5000
ENDS_MIN = 2 * ENDS_CHUNK
ENDS_OPTIONS = ("-c", "core.packedGitWindowSize=16m", "-c", "core.packedGitLimit=64m",
                "-c", "core.deltaBaseCacheLimit=48m")  # fmt: skip


def stream_commits(
    repo: Repo, revs: list[str], excluded_dirs: Iterable[str], jobs: int = 1, *, batch: int = BATCH
) -> Iterator[list[CommitRecord]]:
    """Yield the commits `git log <revs>` shows in batches (order across batches unspecified with jobs > 1)."""
    mirror = as_mirror(repo)
    revs = _check_revs(revs)
    if not revs:
        return
    if jobs <= 1:  # read in a thread all the same: git and the parser go on while the caller stores a batch
        args = [*LOG_ARGS, "--end-of-options", *revs, "--"]
        yield from _parallel([lambda: _log(mirror, args, None, excluded_dirs)], batch)
        return
    yield from stream_commits_by_sha(mirror, _rev_list(mirror, revs), excluded_dirs, jobs, batch=batch)


def stream_commits_by_sha(
    repo: Repo,
    shas: Iterable[str],
    excluded_dirs: Iterable[str],
    jobs: int = 1,
    *,
    batch: int = BATCH,
    min_chunk: int = MIN_CHUNK,
) -> Iterator[list[CommitRecord]]:
    """Yield the records of exactly these commits in batches, read by up to `jobs` git processes."""
    mirror = as_mirror(repo)
    excluded = excluded_set(excluded_dirs)
    chunks = split_chunks(checked_shas(shas), jobs, min_chunk)
    if len(chunks) <= 1:
        for chunk in chunks:
            yield from _batches(_log_shas(mirror, chunk, excluded), batch)
        return
    yield from _parallel([partial(_log_shas, mirror, chunk, excluded) for chunk in chunks], batch)


def stream_commits_from_both_ends(
    repo: Repo,
    head: str,
    excluded_dirs: Iterable[str],
    *,
    batch: int = BATCH,
    chunk: int | None = None,
    minimum: int | None = None,
) -> Iterator[list[CommitRecord]]:
    """Yield the commits `git log <head>` shows in batches, read from the head down and the root up at once.

    One git log walks down from the head. Beside it, once `git rev-list` has given the order,
    git processes read `chunk` commits at a time from the root up (none for fewer than `minimum`
    commits; ENDS_CHUNK and ENDS_MIN by default). Each side stops at the first commit the other
    has handed out, so each reads as far as its speed takes it; commits neither read (none when
    both follow rev-list's order) are read at the end.
    """
    chunk, minimum = chunk or ENDS_CHUNK, minimum or ENDS_MIN
    mirror = as_mirror(repo)
    [head] = _check_revs([head])
    excluded = excluded_set(excluded_dirs)
    meeting = _Meeting()
    order: list[str] = []

    def newest_first() -> Iterator[CommitRecord]:
        return meeting.take(0, _log(mirror, [*LOG_ARGS, "--end-of-options", head, "--"], None, excluded, ENDS_OPTIONS))

    def oldest_first() -> Iterator[CommitRecord]:
        order.extend(_rev_list(mirror, [head]))
        if len(order) < minimum:
            return
        for end in range(len(order), 0, -chunk):
            if meeting.met.is_set():
                return
            shas = order[max(0, end - chunk) : end][::-1]
            yield from meeting.take(1, _log_shas(mirror, shas, excluded, ENDS_OPTIONS))

    yield from _parallel([newest_first, oldest_first], batch)
    missing = [sha for sha in order if not meeting.handed(sha)]
    if missing:
        yield from _batches(_log_shas(mirror, missing, excluded), batch)


class _Meeting:
    """Where two readers of one history, from either end, meet: each hands out only what the other has not."""

    def __init__(self) -> None:
        self.seen: tuple[set[str], set[str]] = (set(), set())
        self.met = threading.Event()
        self._lock = threading.Lock()

    def handed(self, sha: str) -> bool:
        return sha in self.seen[0] or sha in self.seen[1]

    def take(self, side: int, records: Iterator[CommitRecord]) -> Iterator[CommitRecord]:
        """Yield `records` until the other side has handed one out (or has met this side); stop git then."""
        mine, theirs = self.seen[side], self.seen[1 - side]
        try:
            for record in records:
                with self._lock:
                    if self.met.is_set() or record.sha in theirs:
                        self.met.set()
                        return
                    mine.add(record.sha)
                yield record
        finally:
            if hasattr(records, "close"):
                records.close()  # a generator of _log: its git is stopped now, not when collected


def _parallel(readers: list[Callable[[], Iterator[CommitRecord]]], batch: int) -> Iterator[list]:
    """Run each reader in a thread; yield their batches from a bounded queue; re-raise a reader's error."""
    handoff: queue.Queue = queue.Queue(maxsize=QUEUE_BATCHES)
    stop = threading.Event()

    def read(reader: Callable[[], Iterator[CommitRecord]]) -> None:
        try:
            for part in _batches(reader(), batch):
                while not stop.is_set():
                    try:
                        handoff.put(part, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put(_DONE)
        except BaseException as error:  # handed to the consumer, which raises it
            handoff.put(error)

    # Each reader runs in a copy of the caller's context, so its log records carry the job's ids.
    threads = [threading.Thread(target=copy_context().run, args=(read, reader), daemon=True) for reader in readers]
    for thread in threads:
        thread.start()
    finished = 0
    try:
        while finished < len(threads):
            item = handoff.get()
            if item is _DONE:
                finished += 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                handoff.get_nowait()
        for thread in threads:
            thread.join(timeout=5)


def _log_shas(
    mirror: Mirror, shas: list[str], excluded: Iterable[str], options: Iterable[str] = ()
) -> Iterator[CommitRecord]:
    if not shas:
        return iter(())
    data = "".join(f"{sha}\n" for sha in shas).encode()
    return _log(mirror, [*LOG_ARGS, "--no-walk=unsorted", "--stdin"], data, excluded, options)


def _batches(records: Iterator[CommitRecord], size: int) -> Iterator[list[CommitRecord]]:
    batch: list[CommitRecord] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _log(
    mirror: Mirror, args: list[str], stdin: bytes | None, excluded: Iterable[str], options: Iterable[str] = ()
) -> Iterator[CommitRecord]:
    """Stream the log; when git runs out of memory under its limit, go on with a small big-file threshold.

    git prints commits in a fixed order, so the retry skips the records already handed out.
    `options` are more `-c` options for git (after the mirror's own).
    """
    handed = 0
    try:
        for record in _log_once(mirror, args, stdin, excluded, options):
            handed += 1
            yield record
    except GitError as error:
        if "out of memory" not in str(error).lower() or mirror.big_file_bytes <= FALLBACK_BIG_FILE_BYTES:
            raise
        log.warning("%s; reading the log again with files over %d bytes as binary", error, FALLBACK_BIG_FILE_BYTES)
        smaller = replace(mirror, big_file_bytes=FALLBACK_BIG_FILE_BYTES)
        yield from itertools.islice(_log_once(smaller, args, stdin, excluded, options), handed, None)


def _log_once(
    mirror: Mirror, args: list[str], stdin: bytes | None, excluded: Iterable[str], options: Iterable[str] = ()
) -> Iterator[CommitRecord]:
    """Run git with `args` in the mirror and parse its output while it runs."""
    # The mirror's big-file threshold (binary: never diffed) and resource limits, as in Mirror.git.
    limits = ["-c", f"core.bigFileThreshold={mirror.big_file_bytes}", *mirror.limits.git_options(), *options]
    argv, preexec = mirror.limits.command(["git", f"--git-dir={mirror.path}", *limits, *args], mirror.timeout)
    # GIT_FLUSH=0: git log flushes stdout after every commit into a pipe (a write and a wake-up of
    # this reader per commit, 60,000 for a long history: about a fifth of its time); fully
    # buffered, it writes 4 KB at a time, as it does to a file.
    env = base_env(mirror.limits) | {"GIT_FLUSH": "0"} | (mirror.remote_env or {})
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(argv, cwd=mirror.path, env=env, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=errors, start_new_session=True,
                                preexec_fn=preexec)  # fmt: skip
        deadline = time.monotonic() + mirror.timeout
        timer = threading.Timer(mirror.timeout, kill_group, args=(proc,))
        timer.start()
        try:
            if stdin:
                feeder = threading.Thread(target=_feed, args=(proc, stdin), daemon=True)
                feeder.start()
            assert proc.stdout is not None
            _widen_pipe(proc.stdout)
            try:
                yield from iter_log(_tokens(proc.stdout), excluded)
            except ValueError:
                if proc.wait() == 0:
                    raise
                # git died mid-record (killed, out of memory): its exit status and stderr say why, below.
            code = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                kill_group(proc)
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if time.monotonic() >= deadline:
            raise GitError(f"git log timed out after {mirror.timeout:g} s")
        if code != 0:
            errors.seek(0)
            detail = redact(errors.read(64 * 1024).decode("utf-8", "replace").strip(), list(mirror.secrets))
            raise GitError(f"git log failed (exit {code}): {detail}")


def _widen_pipe(stream: Any) -> None:
    """Let git write up to PIPE_BYTES ahead of the parser, so it goes on while batches are stored (Linux)."""
    with contextlib.suppress(AttributeError, OSError):
        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _feed(proc: subprocess.Popen[bytes], data: bytes) -> None:
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError, OSError):
        proc.stdin.write(data)
    with contextlib.suppress(BrokenPipeError, OSError):
        proc.stdin.close()


def _tokens(stream) -> Iterator[str]:
    """Yield the NUL-separated tokens of a byte stream, decoded as UTF-8 (invalid bytes → U+FFFD)."""
    tail = b""
    while chunk := stream.read(READ_BYTES):
        parts = (tail + chunk).split(b"\0")
        tail = parts.pop()
        for part in parts:
            yield part.decode("utf-8", "replace")
    yield tail.decode("utf-8", "replace")
