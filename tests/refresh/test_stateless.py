"""Issue 11: a worker with an empty disk fetches only what the stored state lacks (partial clone)."""

from __future__ import annotations

import logging
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_git import MAILMAP_TEXT, SampleHistory
from tests.refresh.test_incremental import assert_matches_scratch, stored
from tests.refresh_helpers import refresh
from tests.standin.server import GitHubStandIn

pytestmark = pytest.mark.sqlite


def allow_filters(bare: Path) -> None:
    """Let the repository serve partial clones and fetches by object id, as GitHub does."""
    for name in ("uploadpack.allowFilter", "uploadpack.allowAnySHA1InWant"):
        subprocess.run(["git", "--git-dir", str(bare), "config", name, "true"], check=True)


def empty_disk(tmp_path: Path) -> None:
    shutil.rmtree(tmp_path / "cache")


def only_mirror(tmp_path: Path) -> Path:
    (mirror,) = (tmp_path / "cache" / "mirrors").glob("*.git")
    return mirror


def is_blobless(mirror: Path) -> bool:
    out = subprocess.run(["git", "--git-dir", str(mirror), "config", "--get", "remote.origin.promisor"],
                         capture_output=True, text=True, check=False)  # fmt: skip
    return out.stdout.strip() == "true"


def commit_count(mirror: Path) -> int:
    out = subprocess.run(["git", "--git-dir", str(mirror), "rev-list", "--count", "HEAD"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return int(out.stdout)


def add_commit(tracked: SampleHistory, github: GitHubStandIn, path: str, day: int) -> str:
    repo = tracked.repo
    repo.write(path, f"def f{day}():\n    return {day}\n")
    new = repo.commit(f"Add {path}", at=datetime(2024, 3, day, 9, 0, tzinfo=UTC))
    repo.publish()
    github.update_repo("sample", pushed_at=datetime(2024, 3, day, 9, 0, 5, tzinfo=UTC))
    return new.sha


def test_empty_disk_fetches_a_partial_mirror_and_stays_incremental(
    client: Any, app: Any, github: GitHubStandIn, tracked: SampleHistory, caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:  # fmt: skip
    allow_filters(tracked.repo.bare)
    full_history = commit_count(only_mirror(tmp_path))
    empty_disk(tmp_path)
    new = add_commit(tracked, github, "src/stateless.py", 20)
    caplog.set_level(logging.INFO)

    assert refresh(client)["status"] == "completed"

    mirror = only_mirror(tmp_path)
    assert is_blobless(mirror) and (mirror / "shallow").exists()
    assert commit_count(mirror) < full_history + 1
    assert "history incremental (+1/-0), loc recounted" in caplog.text
    shas, _, project = stored(app)
    assert new in shas and project.head_sha == new
    assert_matches_scratch(client, tracked.repo, app, tmp_path / "scratch")

    # The partial mirror on disk is then fetched incrementally like a complete one.
    newer = add_commit(tracked, github, "src/later.py", 21)
    caplog.clear()
    assert refresh(client)["status"] == "completed"
    assert "history incremental (+1/-0), loc recounted" in caplog.text
    assert stored(app)[2].head_sha == newer
    assert_matches_scratch(client, tracked.repo, app, tmp_path / "scratch2")


def test_server_refusing_filters_falls_back_to_a_complete_clone(
    client: Any, app: Any, github: GitHubStandIn, tracked: SampleHistory, caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:  # fmt: skip
    empty_disk(tmp_path)  # the bare repository does not allow filters: the server ignores them
    add_commit(tracked, github, "src/refused.py", 20)
    caplog.set_level(logging.INFO)

    assert refresh(client)["status"] == "completed"

    mirror = only_mirror(tmp_path)
    assert not is_blobless(mirror) and not (mirror / "shallow").exists()
    assert "history incremental (+1/-0)" in caplog.text
    assert_matches_scratch(client, tracked.repo, app, tmp_path / "scratch")


def test_force_push_past_stored_head_falls_back_to_a_complete_clone(
    client: Any, app: Any, github: GitHubStandIn, tracked: SampleHistory, caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:  # fmt: skip
    allow_filters(tracked.repo.bare)
    empty_disk(tmp_path)
    repo = tracked.repo
    old_head = repo.head()
    dropped = tracked.commits["c6"]
    repo.reset_hard(dropped.parents[0])
    repo.write(".mailmap", MAILMAP_TEXT)
    repo.write("README.md", "# Sample, rewritten\n")
    rewritten = repo.commit("Rewrite the tip", at=datetime(2024, 3, 8, 12, 0, tzinfo=UTC))
    repo.publish()
    github.update_repo("sample", pushed_at=datetime(2024, 3, 8, 12, 0, 5, tzinfo=UTC))
    caplog.set_level(logging.INFO)

    assert refresh(client)["status"] == "completed"

    mirror = only_mirror(tmp_path)
    assert not is_blobless(mirror) and not (mirror / "shallow").exists()
    assert "history reconciled (+1/-1)" in caplog.text
    shas, _, project = stored(app)
    assert old_head not in shas and rewritten.sha in shas and project.head_sha == rewritten.sha
    assert_matches_scratch(client, repo, app, tmp_path / "scratch")
