"""Build large synthetic git repositories quickly with `git fast-import` (for the benchmarks)."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LINES_PER_FILE = 100
FORMAT_VERSION = 2  # bump when the generated content changes (cache names include it)
EXTENSIONS = ("py", "js", "go", "c", "rb", "ts")
AUTHORS = (("Ada Lovelace", "ada@example.com"), ("Linus Example", "linus@example.com"),
           ("Grace Hopper", "grace@example.com"), ("Ken Example", "ken@example.com"))  # fmt: skip
START = 1_600_000_000  # 2020-09-13


@dataclass(frozen=True)
class Shape:
    """How big a synthetic repository is."""

    commits: int
    files: int
    seed: int = 7

    @property
    def name(self) -> str:
        return f"synthetic-v{FORMAT_VERSION}-{self.commits}c-{self.files}f-s{self.seed}"


def line(ext: str, file_no: int, line_no: int, version: int) -> str:
    """Return one line of code in the file's language."""
    value = file_no * 1000 + line_no + version
    return {
        "py": f"def f_{line_no}_{version}():\n    return {value}\n",
        "js": f"function f{line_no}_{version}() {{ return {value}; }}\n",
        "go": f"func F{line_no}V{version}() int {{ return {value} }}\n",
        "c": f"int f{line_no}_{version}(void) {{ return {value}; }}\n",
        "rb": f"def f{line_no}_{version}; {value}; end\n",
        "ts": f"export const c{line_no}_{version}: number = {value};\n",
    }[ext]


def header(ext: str) -> str:
    return {"go": "package main\n\n", "c": "#include <stdio.h>\n\n", "py": "# generated\n"}.get(ext, "")


def content(ext: str, file_no: int, versions: list[int]) -> bytes:
    body = "".join(line(ext, file_no, i, v) for i, v in enumerate(versions))
    return (header(ext) + body).encode()


def path_of(file_no: int) -> str:
    ext = EXTENSIONS[file_no % len(EXTENSIONS)]
    return f"pkg{file_no % 37}/sub{file_no % 5}/mod{file_no}.{ext}"


def _blob(data: bytes) -> bytes:
    return b"data %d\n" % len(data) + data + b"\n"


def _commit(mark: int, when: int, author: tuple[str, str], message: str, parent: int | None) -> bytes:
    who = f"{author[0]} <{author[1]}> {when} +0000".encode()
    head = b"commit refs/heads/main\nmark :%d\nauthor %s\ncommitter %s\n" % (mark, who, who)
    text = message.encode()
    return head + b"data %d\n" % len(text) + text + b"\n" + (b"from :%d\n" % parent if parent else b"")


def stream(shape: Shape) -> Iterator[bytes]:
    """Yield a fast-import stream: one commit adding every file, then edits of 1-4 files, 1-12 lines each."""
    rng = random.Random(shape.seed)
    versions = [[0] * LINES_PER_FILE for _ in range(shape.files)]
    when = START
    yield _commit(1, when, AUTHORS[0], "Initial import", None)
    for file_no in range(shape.files):
        ext = EXTENSIONS[file_no % len(EXTENSIONS)]
        yield b"M 100644 inline %s\n" % path_of(file_no).encode() + _blob(content(ext, file_no, versions[file_no]))
    for number in range(2, shape.commits + 1):
        when += rng.randint(60, 20_000)
        yield _commit(number, when, AUTHORS[number % len(AUTHORS)], f"Change {number}", number - 1)
        for file_no in rng.sample(range(shape.files), rng.randint(1, 4)):
            for line_no in rng.sample(range(LINES_PER_FILE), rng.randint(1, 12)):
                versions[file_no][line_no] += 1
            ext = EXTENSIONS[file_no % len(EXTENSIONS)]
            yield b"M 100644 inline %s\n" % path_of(file_no).encode() + _blob(content(ext, file_no, versions[file_no]))


def build(shape: Shape, cache: Path) -> Path:
    """Return a bare repository of this shape, built once and kept in `cache`."""
    target = cache / f"{shape.name}.git"
    if (target / "refs" / "heads" / "main").exists() or (target / "packed-refs").exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / f"{shape.name}.partial.git"
    subprocess.run(["rm", "-rf", str(partial)], check=True, timeout=120)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(partial)], check=True, timeout=60)
    importer = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=partial, stdin=subprocess.PIPE)
    assert importer.stdin is not None
    for chunk in stream(shape):
        importer.stdin.write(chunk)
    importer.stdin.close()
    if importer.wait(timeout=3600) != 0:
        raise RuntimeError("git fast-import failed")
    subprocess.run(["git", "gc", "-q", "--aggressive", "--prune=now"], cwd=partial, check=True, timeout=3600)
    partial.rename(target)
    return target


def add_commit(bare: Path, shape: Shape, when: int) -> str:
    """Append one commit that changes one file to `main` of a bare repository; return its sha.

    The file's new content depends on `when`, so every pushed commit brings a blob never counted.
    """
    versions = [7 + when % 9973] * LINES_PER_FILE
    file_no = 1
    ext = EXTENSIONS[file_no % len(EXTENSIONS)]
    data = content(ext, file_no, versions)
    parent = subprocess.run(["git", "rev-parse", "main"], cwd=bare, capture_output=True, text=True,
                            check=True, timeout=60).stdout.strip()  # fmt: skip
    stream_text = (
        _commit(1, when, AUTHORS[1], "One more change", None)
        + b"from %s\n" % parent.encode()
        + b"M 100644 inline %s\n" % path_of(file_no).encode()
        + _blob(data)
    )
    subprocess.run(["git", "fast-import", "--quiet"], cwd=bare, input=stream_text, check=True, timeout=120)
    return subprocess.run(["git", "rev-parse", "main"], cwd=bare, capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()  # fmt: skip
