"""Pytest fixtures for git-backed tests: scripted repositories, a mirror cache, a rich sample history."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from analysis.mirrors import RepoCache
from tests.gitexpect import ALICE, BOB, CAROL, Identity, ScriptedCommit
from tests.gitrepos import RepoBuilder

# The contract's default excluded directories (CONTRACT.md, "Seed 004 metric definitions").
EXCLUDED_DIRS = (
    "node_modules",
    "dist",
    "build",
    ".venv",
    ".env",
    ".github",
    ".idea",
    ".vscode",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
)
OLD_ALICE = Identity("alice", "alice.old@example.com")
# What the sample history's .mailmap says: OLD_ALICE is ALICE.
MAILMAP = {OLD_ALICE: ALICE}
MAILMAP_TEXT = f"{ALICE.name} <{ALICE.email}> <{OLD_ALICE.email}>\n"
EST = timezone(timedelta(hours=-5))
EET = timezone(timedelta(hours=2))
BRT = timezone(timedelta(hours=-3))
CET = timezone(timedelta(hours=1))
JST = timezone(timedelta(hours=9))


@dataclass
class SampleHistory:
    """The rich sample repository: its builder, published URL and commits by name."""

    repo: RepoBuilder
    url: str
    commits: dict[str, ScriptedCommit]


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[[str], RepoBuilder]:
    """Return a factory of RepoBuilders under tmp_path, one per name."""

    def make(name: str = "repo") -> RepoBuilder:
        return RepoBuilder(tmp_path / "repos" / name)

    return make


@pytest.fixture
def repo_cache(tmp_path: Path) -> RepoCache:
    """Return a mirror cache under tmp_path with a 1 GiB cap."""
    return RepoCache(tmp_path / "cache", max_bytes=1 << 30, git_timeout=60)


@pytest.fixture(scope="session")
def sample_history_template(tmp_path_factory: pytest.TempPathFactory) -> SampleHistory:
    """Build the sample history once per session; tests get copies (see sample_history)."""
    repo = RepoBuilder(tmp_path_factory.mktemp("sample-template") / "sample")
    commits = build_sample_history(repo)
    return SampleHistory(repo, repo.publish(), commits)


@pytest.fixture
def sample_history(sample_history_template: SampleHistory, tmp_path: Path) -> SampleHistory:
    """Return a private, published copy of the sample history (see build_sample_history)."""
    repo = sample_history_template.repo.copy_to(tmp_path / "repos" / "sample")
    return SampleHistory(repo, repo.bare.as_uri(), sample_history_template.commits)


SAMPLE_INITIAL_FILES: dict[str, str | bytes] = {
    "src/app.py": "import os\n\n\ndef main():\n    return os.getcwd()\n",
    "web/index.js": "const a = 1;\nconst b = 2;\nconst c = 3;\nconsole.log(a + b + c);\n",
    "web/old.js": "// old\nexport const old = true;\n",
    ".github/workflows/ci.yml": "on: push\njobs: {}\n",
    "node_modules/lib/index.js": "module.exports = 1;\n",
    "a/build/x": "generated\nstuff\n",
    "img/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
    "README.md": "# Sample\n",
}


def build_sample_history(repo: RepoBuilder) -> dict[str, ScriptedCommit]:
    """Script a history with three authors, offsets near midnight, excluded dirs, binaries, renames and a merge.

    UTC dates: 03-02 (c1, c2, c3), 03-03 (c5, merged from feature), 03-04 (c4, merge), 03-06 (c6):
    4 active days, where the committers' local dates would give 5. c1 and c6 are by OLD_ALICE,
    whom the .mailmap added in c6 maps to ALICE.
    """
    c = _first_commits(repo)
    _branch_and_merge(repo, c)
    repo.write(".mailmap", MAILMAP_TEXT)
    repo.delete("a/build/x")
    repo.write("web/index.js", "const a = 1;\nconsole.log(a);\nconsole.log('done');\n")
    c["c6"] = repo.commit("Add mailmap", at=datetime(2024, 3, 6, 12, 0, tzinfo=UTC), author=OLD_ALICE)
    return c


def _first_commits(repo: RepoBuilder) -> dict[str, ScriptedCommit]:
    """Commit c1-c3: an import, edits in and out of excluded dirs, renames, odd file names."""
    c: dict[str, ScriptedCommit] = {}
    repo.write_many(SAMPLE_INITIAL_FILES)
    c["c1"] = repo.commit("Initial import", at=datetime(2024, 3, 1, 23, 30, tzinfo=EST), author=OLD_ALICE)
    repo.write("src/app.py", "import os\n\n\ndef main():\n    return os.getcwd().upper()\n\n\nmain()\n")
    repo.write("node_modules/lib/index.js", "module.exports = 2;\nmodule.exports.x = 3;\n")
    repo.write("docs/My File ü.md", "Spaces and ünicode\n")
    c["c2"] = repo.commit("Tweak app; vendored lib", at=datetime(2024, 3, 2, 10, 0, tzinfo=UTC), author=BOB)
    repo.rename("src/app.py", "src/main app.py")
    repo.rename("web/old.js", "build/old.js", "// old\nexport const old = true;\nexport const moved = 1;\n")
    repo.write("tab\there => arrow.c", "int main(void) {\n    return 0;\n}\n")
    c["c3"] = repo.commit("Rename => things ✓", at=datetime(2024, 3, 3, 0, 30, tzinfo=EET), author=CAROL)
    return c


def _branch_and_merge(repo: RepoBuilder, c: dict[str, ScriptedCommit]) -> None:
    """Commit c5 on a feature branch (Go file, binary change) and c4 on main, then merge them."""
    repo.branch("feature")
    repo.write("go/main.go", 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("hi")\n}\n')
    repo.write("img/logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(255, -1, -1)))
    c["c5"] = repo.commit("Add Go", at=datetime(2024, 3, 3, 23, 59, 59, tzinfo=JST), author=BOB)
    repo.checkout("main")
    repo.write("web/index.js", "const a = 1;\nconsole.log(a);\n")
    authored = datetime(2024, 2, 28, 8, 15, 30, tzinfo=JST)
    at = datetime(2024, 3, 3, 23, 30, tzinfo=BRT)
    c["c4"] = repo.commit("Trim index", at=at, authored_at=authored, author=ALICE, committer=BOB)
    at = datetime(2024, 3, 5, 0, 10, tzinfo=CET)
    c["merge"] = repo.merge("feature", "Merge branch 'feature'", at=at, author=CAROL)


def hold_mirror(root: str, key: str, url: str, hold: float, out: str) -> None:
    """Open a mirror and keep it for `hold` seconds; append when the lock was held to `out` (for subprocesses)."""
    cache = RepoCache(Path(root), max_bytes=1 << 30, git_timeout=60, lock_timeout=60)
    with cache.open(key, url) as mirror:
        entered = time.time()
        time.sleep(hold)
        left = time.time()
        with open(out, "a", encoding="utf-8") as handle:
            handle.write(f"{entered} {left} {mirror.action}\n")


def utc(moment: datetime) -> datetime:
    """Return a datetime in UTC."""
    return moment.astimezone(UTC)
