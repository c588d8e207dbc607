"""Write blobs to a scratch directory and count them with cloc or pygount (the I/O half of loc.py)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from analysis import cloc_server
from analysis.gitcmd import BIG_FILE_BYTES, NO_LIMITS, Limits, Mirror, run_process
from infra import telemetry

log = logging.getLogger(__name__)

# Bytes to count above which cloc runs with several worker processes (about 2 s of counting).
PARALLEL_CLOC_BYTES = 16 * 1024 * 1024
# Each cloc worker may hold one file of up to MAX_LINES_PER_FILE lines (about 46 MB): few workers.
MAX_CLOC_PROCESSES = 4
# Files with more lines are not counted (see materialise): at most about 46 MB of cloc memory each.
MAX_LINES_PER_FILE = 200_000
# Characters cloc copies unescaped into its JSON file names. Replacing them with U+FFFD keeps the
# language: no name or extension in cloc's tables contains either kind of character.
_UNSAFE = {code: "\ufffd" for code in [*range(32), 127, ord('"'), ord("\\")]}


@dataclass(frozen=True)
class TreeEntry:
    """A regular file of a git tree: its path, blob sha, mode and size in bytes."""

    path: str
    blob_sha: str
    mode: str
    size: int


class LocError(Exception):
    """Counting lines failed (cloc missing, crashed, timed out or printed garbage)."""


@dataclass(frozen=True)
class FileCount:
    """Lines of one file as the counting tool saw them."""

    language: str
    code: int
    comment: int
    blank: int


BlobKey = tuple[str, str]  # (blob sha, lang_key)
Counts = dict[BlobKey, FileCount | None]


def safe_name(name: str) -> str:
    """Return a file name that cloc prints verbatim in valid JSON and classifies like `name`."""
    cleaned = name.translate(_UNSAFE)
    return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in cleaned)


def materialise(
    mirror: Mirror,
    wanted: dict[BlobKey, TreeEntry],
    root: Path,
    batch_bytes: int,
    max_lines: int | None = None,
    too_long: set[BlobKey] | None = None,
) -> dict[str, BlobKey]:
    """Write one file per key under root as <n>/<basename>; return {relative path: key}.

    A blob of more than `max_lines` lines is not written: its keys are added to `too_long` (cloc
    holds every line of a file in memory, about 230 bytes per line, so 2 MB of newlines cost it
    about 500 MB).
    """
    targets: dict[str, list[str]] = {}
    files: dict[str, BlobKey] = {}
    uses: dict[str, int] = {}
    for key, entry in wanted.items():
        name = safe_name(entry.path.rsplit("/", 1)[-1])
        index = uses.get(name, 0)
        uses[name] = index + 1
        relative = f"{index}/{name}"
        files[relative] = key
        targets.setdefault(entry.blob_sha, []).append(relative)
    for index in range(max(uses.values(), default=0)):
        (root / str(index)).mkdir()
    sizes = {entry.blob_sha: entry.size for entry in wanted.values()}
    for batch in _batches(list(targets), sizes, batch_bytes):
        for sha, data in read_blobs(mirror, batch):
            if max_lines is not None and bytes(data).count(b"\n") > max_lines:
                for relative in targets[sha]:
                    (too_long if too_long is not None else set()).add(files.pop(relative))
                continue
            for relative in targets[sha]:
                with open(root / relative, "wb") as handle:
                    handle.write(data)
    return files


def _batches(shas: list[str], sizes: dict[str, int], limit: int) -> Iterator[list[str]]:
    """Yield runs of shas whose blobs add up to about `limit` bytes."""
    batch: list[str] = []
    total = 0
    for sha in shas:
        if batch and total + sizes[sha] > limit:
            yield batch
            batch, total = [], 0
        batch.append(sha)
        total += sizes[sha]
    if batch:
        yield batch


def read_blobs(mirror: Mirror, shas: list[str]) -> Iterator[tuple[str, memoryview]]:
    """Yield (sha, content) of each blob, read by one `git cat-file --batch`."""
    data = mirror.git(["cat-file", "--batch"], input="".join(f"{sha}\n" for sha in shas).encode()).stdout
    view = memoryview(data)
    pos = 0
    for sha in shas:
        end = data.index(b"\n", pos)
        header = data[pos:end].split()
        if len(header) != 3 or header[1] != b"blob":
            raise LocError(f"cannot read blob {sha}: git said {data[pos:end][:200]!r}")
        start = end + 1
        size = int(header[2])
        yield sha, view[start : start + size]
        pos = start + size + 1


def cloc_command(cloc: str, processes: int = 0, max_bytes: int = BIG_FILE_BYTES, *, listed: bool = False) -> list[str]:
    """Return the cloc invocation that reports every file (no uniqueness check, no per-file timeout).

    It counts the working directory, or with `listed` the files named on its stdin.
    """
    # --timeout 0: cloc's default drops a file whose filters run longer than lines/1000 s, which
    # would make the count depend on machine load. --processes only changes speed, not results.
    return [
        cloc,
        "--json",
        "--by-file",
        "--skip-uniqueness",
        "--quiet",
        "--timeout",
        "0",
        f"--processes={processes}",
        f"--max-file-size={max_bytes / 1024**2:g}",
        "--list-file=-" if listed else ".",
    ]


def cloc_processes(total_bytes: int) -> int:
    """Return how many cloc workers to use: forking costs about a second, so only for big batches."""
    cores = os.cpu_count() or 1
    return min(cores, MAX_CLOC_PROCESSES) if cores > 1 and total_bytes >= PARALLEL_CLOC_BYTES else 0


def run_cloc(
    cloc: str,
    root: Path,
    files: dict[str, BlobKey],
    timeout: float,
    total_bytes: int = 0,
    *,
    limits: Limits = NO_LIMITS,
    max_bytes: int = BIG_FILE_BYTES,
) -> Counts:
    """Count the files under root with one cloc run; files cloc does not report map to None.

    A batch for one cloc process goes to this process's cloc server (cloc started once) when
    there is one; a plain cloc counts otherwise, and when the server cannot.
    """
    processes = cloc_processes(total_bytes)
    if processes == 0:
        served = _served(cloc, root, files, timeout, limits, max_bytes)
        if served is not None:
            return served
    try:
        command = cloc_command(cloc, processes, max_bytes)
        done = run_process(command, cwd=root, env=cloc_env(), timeout=timeout, limits=limits)
    except subprocess.TimeoutExpired:
        raise LocError(f"cloc timed out after {timeout:g} s") from None
    except OSError as error:
        raise LocError(f"cannot run cloc ({cloc}): {error}") from None
    return cloc_result(done.returncode, done.stdout, done.stderr, files)


def _served(cloc: str, root: Path, files: dict[str, BlobKey], timeout: float, limits: Limits,
            max_bytes: int) -> Counts | None:  # fmt: skip
    """Count with the cloc server; None when there is none or it cannot count now."""
    server = cloc_server.server(cloc, server_options(max_bytes), cloc_env(), limits)
    if server is None:
        return None
    try:
        with telemetry.span("exec cloc", **{"process.command": "cloc", "process.served": True}):
            code, stdout, stderr = server.count(root, list(files), timeout)
    except cloc_server.ServerUnavailable as why:
        log.info("cloc server unavailable (%s): starting cloc", why)
        return None
    except cloc_server.CountTimeout:
        raise LocError(f"cloc timed out after {timeout:g} s") from None
    return cloc_result(code, stdout, stderr, files)


def server_options(max_bytes: int) -> list[str]:
    """Return the options the cloc server runs cloc with: names on stdin, one process."""
    return cloc_command("cloc", 0, max_bytes, listed=True)[1:]


def start_server(cloc: str, limits: Limits, max_bytes: int, *, shared: bool = False) -> None:
    """Start this process's cloc server now, so that it compiles cloc while the caller does other work.

    `shared`: for the processes this one will fork (see cloc_server.server).
    """
    cloc_server.server(cloc, server_options(max_bytes), cloc_env(), limits, shared=shared)


def cloc_env() -> dict[str, str]:
    # HOME=/dev/null: cloc would read ~/.config/cloc/options.txt otherwise.
    return {"PATH": os.environ.get("PATH", os.defpath), "HOME": os.devnull, "LC_ALL": "C", "LANG": "C"}


def cloc_result(returncode: int, stdout: bytes, stderr: bytes, files: dict[str, BlobKey]) -> Counts:
    """Return the counts of a finished cloc run, or raise LocError with what it said."""
    if returncode != 0:
        detail = (stderr or stdout).decode("utf-8", "replace").strip()[:2000]
        raise LocError(f"cloc failed (exit {returncode}): {detail}")
    return parse_cloc_json(stdout, files)


def parse_cloc_json(stdout: bytes, files: dict[str, BlobKey]) -> Counts:
    """Map cloc's --by-file JSON back to keys; keys it does not mention are None (not source)."""
    result: Counts = dict.fromkeys(files.values())
    text = stdout.decode("utf-8", "replace").strip()
    if not text:
        return result  # cloc prints nothing when no file is recognised
    try:
        report = json.loads(text, strict=False)
        for name, row in report.items():
            key = files.get(name.removeprefix("./"))
            if key is not None:
                result[key] = FileCount(str(row["language"]), int(row["code"]), int(row["comment"]), int(row["blank"]))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise LocError(f"cloc printed unexpected output ({error}): {text[:200]!r}") from None
    return result


def run_pygount(root: Path, files: dict[str, BlobKey]) -> Counts:
    """Count each file with pygount; code = code + string-only lines, as pygount's cloc-xml output does."""
    from pygount import SourceAnalysis, SourceState

    result: Counts = {}
    for relative, key in files.items():
        analysis = SourceAnalysis.from_file(str(root / relative), "")
        if analysis.state == SourceState.analyzed:
            result[key] = FileCount(
                analysis.language, analysis.source_count, analysis.documentation_count, analysis.empty_count
            )
        else:
            result[key] = None
    return result
