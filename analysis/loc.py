"""Count lines of code of a git tree with cloc (pygount without it), counting each file content once ever."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from analysis import counters, linguist, partial
from analysis.counters import BlobKey, Counts, FileCount, LocError, TreeEntry
from analysis.gitcmd import Limits, Mirror, as_mirror

Repo = Mirror | str | os.PathLike[str]
# cloc always skips these directories (and files of these names), whatever --exclude-dir says.
CLOC_ALWAYS_EXCLUDED = frozenset({".svn", ".cvs", ".hg", ".git", ".bzr", ".snapshot", ".config"})
# Files larger than the mirror's big_file_bytes (8 MiB by default) count as binary: never
# materialised nor counted (cloc also gets --max-file-size). Blobs of one cloc run fill at most
# SCRATCH_MAX_BYTES of temporary disk; more are counted in several runs.
SCRATCH_MAX_BYTES = 256 * 1024 * 1024
# Longest lang_key kept verbatim (the loc_blobs.lang_key column holds 120 characters).
MAX_LANG_KEY = 100
# Bytes of blobs read by one `git cat-file --batch`, to bound memory on huge trees. The output is
# held whole (and joined from its reads): at 64 MB, counting git's own tree left the worker 55 MB
# larger for good; 8 MB costs a few more cat-file runs (about 5 ms each).
BATCH_BYTES = 8 * 1024 * 1024
# Batches up to this size are written to tmpfs when there is one (memory use stays bounded).
SHM = "/dev/shm"  # noqa: S108 - only the parent of a private mkdtemp directory
SHM_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class LocResult:
    """Code lines of a tree in total and by language, files counted, and blobs counted in this call."""

    total_code: int
    by_language: dict[str, int]
    files: int
    blobs_counted: int
    authored_code: int = 0
    authored_by_language: dict[str, int] = field(default_factory=dict)
    large_files: int = 0  # files over the mirror's big_file_bytes, counted as binary


class BlobCountStore(Protocol):
    """Counts of file contents keyed by (blob_sha, lang_key); None = not a recognised source file."""

    def get_many(self, keys: list[BlobKey]) -> dict[BlobKey, FileCount | None]:
        """Return the stored counts of those keys that are known (absent keys are missing)."""
        ...

    def put_many(self, items: dict[BlobKey, FileCount | None]) -> None:
        """Store counts (None for files the tool does not count)."""
        ...


class MemoryBlobStore:
    """A BlobCountStore in a dict, for tests and one-off runs."""

    def __init__(self) -> None:
        self.items: dict[BlobKey, FileCount | None] = {}

    def get_many(self, keys: list[BlobKey]) -> dict[BlobKey, FileCount | None]:
        """Return the known counts among `keys`."""
        return {key: self.items[key] for key in keys if key in self.items}

    def put_many(self, items: dict[BlobKey, FileCount | None]) -> None:
        """Remember the counts."""
        self.items.update(items)


def find_cloc(cloc_path: str | None) -> str | None:
    """Return the cloc executable to use: `cloc_path` if executable, else cloc on PATH, else None."""
    if cloc_path and os.path.isfile(cloc_path) and os.access(cloc_path, os.X_OK):
        return cloc_path
    return shutil.which("cloc")


def lang_key(tool: str, path: str) -> str:
    """Return what besides content decides a file's language: the tool and the file's whole basename.

    cloc looks at the whole name (Makefile, CMakeLists.txt, a trailing ~), then at triple, double
    and single extensions, case-sensitively; pygount's lexer choice is by file name too. The
    basename covers all of these; files of one path keep their key across commits.
    """
    name = path.rsplit("/", 1)[-1]
    key = f"{tool}:{name}"
    if len(key) <= MAX_LANG_KEY:
        return key
    return f"{tool}:#{hashlib.sha256(name.encode('utf-8', 'surrogateescape')).hexdigest()[:40]}"


def loc_excluded(path: str, excluded: Iterable[str]) -> bool:
    """Tell whether any component of a path, the file name included, is excluded (as cloc's --exclude-dir)."""
    names = excluded if isinstance(excluded, set | frozenset) else frozenset(excluded)
    return any(part in names for part in path.split("/"))


def tree_entries(repo: Repo, head: str, excluded_dirs: Iterable[str], *, sizes: bool = True) -> list[TreeEntry]:
    """List the regular files of `head`'s tree that are not excluded, in git's path order.

    Symlinks (mode 120000) are skipped: cloc follows links to files, but a link inside the tree
    duplicates its target (dropped by cloc's uniqueness check) and a link out of the tree points
    at something that is not the repository's. Submodules (gitlinks, mode 160000) are skipped: a
    plain clone leaves their directories empty. Without `sizes` (a partial mirror, where a size
    means fetching the blob) sizes are -1.
    """
    return tree_listing(repo, head, excluded_dirs, sizes=sizes)[0]


def tree_listing(
    repo: Repo, head: str, excluded_dirs: Iterable[str], *, sizes: bool = True
) -> tuple[list[TreeEntry], bool]:
    """Return `tree_entries` and whether the tree holds a `.gitattributes` file anywhere (excluded or not)."""
    if head.startswith("-"):
        raise ValueError(f"invalid revision {head!r}")
    listing = ["ls-tree", "-r", "-z", *(["-l"] if sizes else []), "--full-tree", f"{head}^{{tree}}"]
    out = as_mirror(repo).git(listing).stdout
    names = frozenset(excluded_dirs)
    entries = []
    attributes = False
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, raw_path = record.partition(b"\t")
        attributes = attributes or raw_path.rsplit(b"/", 1)[-1] == b".gitattributes"
        mode, kind, sha, *size = meta.split()
        if kind != b"blob" or not mode.startswith(b"100"):
            continue
        path = raw_path.decode("utf-8", "replace")
        if not loc_excluded(path, names):
            entries.append(TreeEntry(path, sha.decode(), mode.decode(), int(size[0]) if size else -1))
    return entries, attributes


def count_tree(
    repo: Repo,
    head: str,
    excluded_dirs: Iterable[str],
    store: BlobCountStore,
    *,
    cloc_path: str | None,
    tool: str | None = None,
    scratch_dir: str | None = None,
) -> LocResult:
    """Count code lines of `head`'s tree as a plain `cloc --exclude-dir=...` on a checkout would.

    Counts come from `store` where known; only missing (blob, lang_key) pairs are written to a
    temporary directory and counted by one cloc run, or by pygount when cloc is absent. The
    directory is made under `scratch_dir`, else /dev/shm for batches up to SHM_MAX_BYTES, else
    $TMPDIR. blobs_counted = entries added to the store.
    """
    mirror = as_mirror(repo)
    cloc = find_cloc(cloc_path)
    tool = tool or ("cloc" if cloc else "pygount")
    if tool == "cloc" and cloc is None:
        raise LocError("cloc is not installed (set CLOC_PATH or install cloc)")
    if tool not in {"cloc", "pygount"}:
        raise ValueError(f"unknown LOC tool {tool!r}")
    blobless = partial.is_blobless(mirror)
    skipped = CLOC_ALWAYS_EXCLUDED | frozenset(excluded_dirs)
    entries, attributes = tree_listing(mirror, head, skipped, sizes=not blobless)
    keys = [(entry.blob_sha, lang_key(tool, entry.path)) for entry in entries]
    counts: Counts = store.get_many(list(dict.fromkeys(keys)))
    missing = _missing(entries, keys, counts)
    if blobless:
        missing = _fetch_missing(mirror, missing)
    fresh = _count_missing(mirror, missing, tool, cloc, scratch_dir) if missing else {}
    if fresh:
        store.put_many(fresh)
        counts.update(fresh)
    total, by_language, files = summarise(entries, keys, counts)
    authored = linguist.authored_paths(mirror, head, [entry.path for entry in entries], attributes=attributes)
    kept = [(entry, key) for entry, key in zip(entries, keys, strict=True) if entry.path in authored]
    notebooks = _notebook_counts(mirror, kept, counts)
    authored_total, authored_by_language, _ = summarise([e for e, _ in kept], [k for _, k in kept], counts | notebooks)
    large = sum(1 for entry in entries if entry.size > mirror.big_file_bytes)
    return LocResult(total, by_language, files, len(fresh), authored_total, authored_by_language, large)


def _notebook_counts(mirror: Mirror, kept: list[tuple[TreeEntry, BlobKey]], counts: Counts) -> Counts:
    """Recount notebooks as their code cells' lines (cloc counts their JSON, outputs included)."""
    wanted = {key: entry for entry, key in kept if entry.path.endswith(".ipynb") and counts.get(key) is not None}
    if not wanted:
        return {}
    contents = dict(counters.read_blobs(mirror, sorted({entry.blob_sha for entry in wanted.values()})))
    result: Counts = {}
    for key, entry in wanted.items():
        lines = linguist.notebook_code_lines(bytes(contents[entry.blob_sha]))
        counted = counts[key]
        if lines is not None and counted is not None:
            result[key] = FileCount(counted.language, lines, 0, 0)
    return result


def _fetch_missing(mirror: Mirror, missing: dict[BlobKey, TreeEntry]) -> dict[BlobKey, TreeEntry]:
    """Fetch the blobs never counted into a partial mirror in one request; return the entries with sizes."""
    shas = {entry.blob_sha for entry in missing.values()}
    partial.prefetch(mirror, shas)
    sizes = partial.blob_sizes(mirror, shas)
    return {key: replace(entry, size=sizes[entry.blob_sha]) for key, entry in missing.items()}


def _missing(entries: list[TreeEntry], keys: list[BlobKey], known: Counts) -> dict[BlobKey, TreeEntry]:
    """Return one entry per key the store does not know yet."""
    missing: dict[BlobKey, TreeEntry] = {}
    for entry, key in zip(entries, keys, strict=True):
        if key not in known and key not in missing:
            missing[key] = entry
    return missing


def _count_missing(
    mirror: Mirror, missing: dict[BlobKey, TreeEntry], tool: str, cloc: str | None, scratch_dir: str | None
) -> Counts:
    """Count the missing keys: empty and oversized files directly, the rest by the tool."""
    result: Counts = {}
    to_count: dict[BlobKey, TreeEntry] = {}
    for key, entry in missing.items():
        if entry.size == 0 or entry.size > mirror.big_file_bytes:
            result[key] = None  # cloc ignores zero-sized files; large ones count as binary
        else:
            to_count[key] = entry
    for part in scratch_parts(to_count, SCRATCH_MAX_BYTES):
        result |= _count_part(mirror, part, tool, cloc, scratch_dir)
    return result


def start_cloc(cloc_path: str | None, *, limits: Limits, max_bytes: int, shared: bool = False) -> None:
    """Start cloc for counts to come in this process (see counters.start_server); nothing without cloc."""
    cloc = find_cloc(cloc_path)
    if cloc is not None:
        counters.start_server(cloc, limits, max_bytes, shared=shared)


def scratch_parts(entries: dict[BlobKey, TreeEntry], limit: int) -> list[dict[BlobKey, TreeEntry]]:
    """Split the entries to count into parts of at most `limit` bytes (a larger file alone)."""
    parts: list[dict[BlobKey, TreeEntry]] = []
    current: dict[BlobKey, TreeEntry] = {}
    size = 0
    for key, entry in entries.items():
        if current and size + entry.size > limit:
            parts.append(current)
            current, size = {}, 0
        current[key] = entry
        size += entry.size
    return [*parts, current] if current else parts


def _count_part(
    mirror: Mirror, to_count: dict[BlobKey, TreeEntry], tool: str, cloc: str | None, scratch_dir: str | None
) -> Counts:
    """Count one part with the tool, in tmpfs when it fits, else on disk."""
    result: Counts = {}
    total_bytes = sum(entry.size for entry in to_count.values())
    parents = [scratch_dir] if scratch_dir is not None else [*_shm_for(total_bytes), None]
    for parent in parents[:-1]:
        try:
            return result | _count_files(mirror, to_count, tool, cloc, parent, total_bytes)
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
    return result | _count_files(mirror, to_count, tool, cloc, parents[-1], total_bytes)


def _shm_for(total_bytes: int) -> list[str]:
    """Return [/dev/shm] when a batch is small enough for it: creating files there is far cheaper than on disk."""
    if total_bytes <= SHM_MAX_BYTES and os.path.isdir(SHM) and os.access(SHM, os.W_OK | os.X_OK):
        return [SHM]
    return []


def _count_files(
    mirror: Mirror,
    to_count: dict[BlobKey, TreeEntry],
    tool: str,
    cloc: str | None,
    parent: str | None,
    total_bytes: int,
) -> Counts:
    """Write the blobs under a temporary directory in `parent` (None: $TMPDIR) and count them."""
    with tempfile.TemporaryDirectory(prefix="loc-", dir=parent) as tmp:
        too_long: set[BlobKey] = set()
        files = counters.materialise(mirror, to_count, Path(tmp), BATCH_BYTES, counters.MAX_LINES_PER_FILE, too_long)
        skipped: Counts = dict.fromkeys(too_long)
        if tool == "cloc" and cloc is not None:
            return skipped | counters.run_cloc(
                cloc,
                Path(tmp),
                files,
                mirror.timeout,
                total_bytes,
                limits=mirror.limits,
                max_bytes=mirror.big_file_bytes,
            )
        return skipped | counters.run_pygount(Path(tmp), files)


def summarise(entries: list[TreeEntry], keys: list[BlobKey], counts: Counts) -> tuple[int, dict[str, int], int]:
    """Return (total code, code by language, files) counting each content once, as cloc does.

    Among recognised files with identical content cloc keeps the last in sorted path order (its
    different_files() picks the last known-language file of each md5 group), so this does too.
    """
    chosen: dict[str, tuple[bytes, FileCount]] = {}
    for entry, key in zip(entries, keys, strict=True):
        count = counts.get(key)
        if count is None:
            continue
        order = entry.path.encode("utf-8", "surrogateescape")
        if entry.blob_sha not in chosen or order > chosen[entry.blob_sha][0]:
            chosen[entry.blob_sha] = (order, count)
    by_language: dict[str, int] = {}
    for _order, count in chosen.values():
        by_language[count.language] = by_language.get(count.language, 0) + count.code
    return sum(by_language.values()), dict(sorted(by_language.items())), len(chosen)
