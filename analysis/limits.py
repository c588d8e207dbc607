"""Resource limits of the children the analysis starts (git, cloc): address space, file size, CPU time."""

from __future__ import annotations

import contextlib
import functools
import math
import os
import resource
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

# Under a smaller address-space limit git keeps the C library's malloc, which reserves less of it.
MALLOC_MIN_ADDRESS_BYTES = 256 * 1024**2


@dataclass(frozen=True)
class Limits:
    """Resource limits of each child process: address space, largest file written, CPU time.

    `malloc`: a malloc library preloaded into git (checked by `preloadable`), faster than the C
    library's on git's many small allocations; None for the C library's.
    """

    address_bytes: int | None = None
    file_bytes: int | None = None
    cpu_seconds: float | None = None
    malloc: str | None = None

    def git_env(self) -> dict[str, str]:
        """Return the environment variables that give git the preloaded malloc, if any."""
        if not self.malloc or (self.address_bytes and self.address_bytes < MALLOC_MIN_ADDRESS_BYTES):
            return {}
        return {"LD_PRELOAD": self.malloc}

    def git_options(self) -> list[str]:
        """Return `-c` options that keep git's mmap'ed pack windows inside an address-space limit."""
        if not self.address_bytes:
            return []
        return ["-c", "core.packedGitWindowSize=32m", "-c", "core.packedGitLimit=128m"]

    def preexec(self, timeout: float) -> Callable[[], None] | None:
        """Return a function that applies the limits in the child before exec (None: no limits)."""
        limits = [(which, value) for which, _flag, value in self._wanted(timeout)]
        if not limits:
            return None

        def apply() -> None:
            for which, value in limits:
                hard = resource.getrlimit(which)[1]
                capped = value if hard == resource.RLIM_INFINITY else min(value, hard)
                resource.setrlimit(which, (capped, hard))
            if self.file_bytes:
                # A write past the file-size limit then fails with EFBIG, which git reports ("File too
                # large") as it reports a full disk, instead of dying of SIGXFSZ without a word.
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

        return apply

    def command(self, argv: list[str], timeout: float) -> tuple[list[str], Callable[[], None] | None]:
        """Return how to start `argv` under the limits: the argv to run and a preexec function.

        With util-linux's `prlimit` on PATH the limits are set by it (it execs the command, so the
        pid, exit status and signals stay the command's) and no preexec function is needed: Python
        then starts the child with vfork, about ten times cheaper than a fork of a large worker.
        """
        wanted = self._wanted(timeout)
        prlimit = prlimit_path()
        if not wanted or prlimit is None:
            return argv, self.preexec(timeout)
        options = []
        for which, flag, value in wanted:
            hard = resource.getrlimit(which)[1]  # inherited by the child: never ask for more
            options.append(f"--{flag}={value if hard == resource.RLIM_INFINITY else min(value, hard)}:")
        # Ignoring SIGXFSZ (see preexec) survives both execs; coreutils' env sets it (Python resets it).
        env = env_ignoring_signals() if self.file_bytes else None
        ignore = [env, "--ignore-signal=XFSZ"] if env else []
        if self.file_bytes and not ignore:
            return argv, self.preexec(timeout)
        return [*ignore, prlimit, *options, "--", *argv], None

    def _wanted(self, timeout: float) -> list[tuple[int, str, int]]:
        cpu = self.cpu_seconds if self.cpu_seconds is not None else timeout
        wanted = [
            (resource.RLIMIT_AS, "as", self.address_bytes),
            (resource.RLIMIT_FSIZE, "fsize", self.file_bytes),
            (resource.RLIMIT_CPU, "cpu", math.ceil(cpu) + 1 if cpu and math.isfinite(cpu) else None),
        ]
        return [(which, flag, int(value)) for which, flag, value in wanted if value is not None and value > 0]


@functools.cache
def prlimit_path() -> str | None:
    """Return util-linux's prlimit when it can set limits here (checked once per process), else None."""
    path = shutil.which("prlimit")
    if path is None:
        return None
    try:
        done = subprocess.run([path, "--cpu=1:", "--", "true"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return path if done.returncode == 0 else None


@functools.cache
def env_ignoring_signals() -> str | None:
    """Return coreutils' env when it can start a command with a signal ignored (8.31 and later), else None."""
    path = shutil.which("env")
    if path is None:
        return None
    try:
        done = subprocess.run([path, "--ignore-signal=XFSZ", "true"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return path if done.returncode == 0 else None


@functools.cache
def preloadable(library: str) -> bool:
    """Tell whether git runs with `library` preloaded, silently (checked once per process)."""
    if not library:
        return False
    env = {name: os.environ[name] for name in ("PATH", "LD_LIBRARY_PATH") if name in os.environ}
    env |= {"LD_PRELOAD": library, "LC_ALL": "C"}
    try:
        done = subprocess.run(["git", "--version"], capture_output=True, env=env, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and not done.stderr  # ld.so says on stderr when it cannot preload


NO_LIMITS = Limits()


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill a child started with start_new_session and everything it started (git's helpers, cloc's workers)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
