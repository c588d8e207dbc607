"""cloc started once per process: small counts without its start-up (see cloc_server.pl).

Perl compiles cloc, and cloc sets itself up, for about 0.2 s before it counts anything, while
the few files of an incremental refresh take it a hundredth of that. A server does both once,
up to where cloc reads the names to count, and forks a child per count there; each child goes
on as a fresh `cloc` with the server's options would. Anything unexpected (no Perl, a cloc that
is not a Perl script or has no read_list_file, a server that died) makes the caller run a plain
cloc instead: the server only saves time, it never decides a count.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import selectors
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from analysis.limits import Limits, kill_group

log = logging.getLogger(__name__)
SCRIPT = Path(__file__).with_name("cloc_server.pl")
_ids = itertools.count(1)


class ServerUnavailable(Exception):
    """The server cannot count now; count with a plain cloc."""


class CountTimeout(Exception):
    """The count ran past its timeout; the server was stopped."""


class ClocServer:
    """One Perl process holding cloc compiled; counts run one at a time, each in a forked child."""

    def __init__(self, perl: str, cloc: str, options: list[str], env: dict[str, str], limits: Limits, *,
                 shared: bool = False) -> None:  # fmt: skip
        argv, preexec = limits.command([perl, str(SCRIPT), cloc, *options], math.inf)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - open as long as the server runs
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                      cwd="/", env=env, start_new_session=True, preexec_fn=preexec)  # fmt: skip
        self._lock = threading.Lock()
        self._pending = b""
        self.owner = os.getpid()
        self.died = False  # exited by itself: broken, not started again
        self.shared = shared  # usable by processes forked from its owner (one at a time)
        self.counts = 0

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def usable(self) -> bool:
        """Tell whether this process may count with the server: its own, or a shared one of its parent."""
        if self.owner == os.getpid():
            return self.alive
        if not self.shared or self.died:
            return False
        try:
            os.kill(self._proc.pid, 0)
        except OSError:
            return False
        return True

    def count(self, root: Path, names: list[str], timeout: float) -> tuple[int, bytes, bytes]:
        """Count the files `names` (relative to root) with cloc: (its exit code, stdout, stderr).

        Raises ServerUnavailable when busy with another count or dead, CountTimeout after `timeout`.
        """
        if not self._lock.acquire(blocking=False):
            raise ServerUnavailable("busy")
        try:
            with tempfile.TemporaryDirectory(prefix="cloc-io-") as io:
                paths = [str(root), *(os.path.join(io, name) for name in ("names", "out", "err"))]
                if any("\t" in path or "\n" in path for path in paths):
                    raise ServerUnavailable("a path holds a tab or a newline")
                Path(paths[1]).write_bytes("".join(f"{name}\n" for name in names).encode("utf-8", "surrogateescape"))
                ident = f"{os.getpid()}-{next(_ids)}"
                self._send("\t".join([ident, *paths]) + "\n")
                status = self._answer(ident, time.monotonic() + timeout)
                if status < 0:
                    raise ServerUnavailable("the server could not fork")
                code = -(status & 0x7F) if status & 0x7F else status >> 8
                self.counts += 1
                return code, Path(paths[2]).read_bytes(), Path(paths[3]).read_bytes()
        finally:
            self._lock.release()

    def _send(self, request: str) -> None:
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.write(request.encode("utf-8", "surrogateescape"))
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise ServerUnavailable(self._death()) from None

    def _answer(self, ident: str, deadline: float) -> int:
        """Read answer lines until this request's (an earlier, abandoned request may answer first)."""
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                while b"\n" in self._pending:
                    line, self._pending = self._pending.split(b"\n", 1)
                    answered, _, status = line.decode("ascii", "replace").partition("\t")
                    if answered == ident:
                        return int(status)
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    self.stop()
                    raise CountTimeout
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise ServerUnavailable(self._death())
                self._pending += chunk

    def _death(self) -> str:
        self.died = True
        self._kill()
        self._stderr.seek(0)
        said = self._stderr.read(2000).decode("utf-8", "replace").strip()
        self.close()
        return f"the cloc server exited ({self._proc.returncode}): {said}"

    def _kill(self) -> None:
        kill_group(self._proc)
        self._proc.wait()

    def stop(self) -> None:
        """Kill the server and any count it runs; close its pipes."""
        self._kill()
        self.close()

    def close(self) -> None:
        """Close this process's ends of the server's pipes."""
        for stream in (self._proc.stdin, self._proc.stdout, self._stderr):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()


_servers: dict[tuple[str, tuple[str, ...], Limits], ClocServer] = {}
_refused: set[tuple[str, tuple[str, ...], Limits]] = set()
_registry = threading.Lock()


def server(cloc: str, options: list[str], env: dict[str, str], limits: Limits, *,
           shared: bool = False) -> ClocServer | None:  # fmt: skip
    """Return this process's server for cloc with these options, started now if needed (None: none).

    A `shared` server also serves the processes this one forks, one at a time (an RQ worker's
    work-horses, forked per job: else each would compile cloc again).
    """
    key = (cloc, tuple(options), limits)
    with _registry:
        running = _servers.get(key)
        if running is not None and running.usable():
            return running
        if running is not None:
            if running.owner == os.getpid():
                running.stop()  # stopped after a timeout, or died
            else:
                running.close()  # the server of the process that forked this one: not ours to stop
            del _servers[key]
            if running.died:
                log.warning("the cloc server died: each count starts cloc from now on")
                _refused.add(key)
        if key in _refused:
            return None
        perl = shutil.which("perl")
        if perl is None or not _is_perl_script(cloc):
            _refused.add(key)
            return None
        try:
            _servers[key] = ClocServer(perl, cloc, options, env, limits, shared=shared)
        except OSError as error:
            log.info("no cloc server (%s): each count starts cloc", error)
            _refused.add(key)
            return None
        return _servers[key]


def _is_perl_script(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            first = handle.readline(200)
    except OSError:
        return False
    return first.startswith(b"#!") and b"perl" in first
