"""Issue 11: a refresh after a push starts cloc before fetching (it compiles meanwhile), and only then."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from analysis import loc
from analysis.counters import WarmCloc
from tests.fixtures_git import SampleHistory
from tests.refresh.test_incremental import assert_matches_scratch, stored
from tests.refresh_helpers import refresh
from tests.standin.server import GitHubStandIn

pytestmark = pytest.mark.sqlite


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[WarmCloc]:
    """Record every warm cloc a refresh starts."""
    original, seen = loc.warm_cloc, []

    def recording(*args: Any, **kwargs: Any) -> WarmCloc | None:
        warm = original(*args, **kwargs)
        if warm is not None:
            seen.append(warm)
        return warm

    monkeypatch.setattr(loc, "warm_cloc", recording)
    return seen


def stopped(warm: WarmCloc) -> bool:
    try:
        os.kill(warm._proc.pid, 0)
    except ProcessLookupError:
        return not warm.root.exists()
    return False


def push(tracked: SampleHistory, github: GitHubStandIn, path: str, content: str, day: int) -> None:
    tracked.repo.write(path, content)
    tracked.repo.commit(f"Change {path}", at=datetime(2024, 3, day, 9, 0, tzinfo=UTC))
    tracked.repo.publish()
    github.update_repo("sample", pushed_at=datetime(2024, 3, day, 9, 0, 5, tzinfo=UTC))


def test_a_push_is_counted_by_the_cloc_started_before_the_fetch(
    client: Any, app: Any, github: GitHubStandIn, tracked: SampleHistory, started: list[WarmCloc], tmp_path: Path
) -> None:
    _, blobs_before, _ = stored(app)
    push(tracked, github, "src/warm.py", "def warm():\n    return 'compiled early'\n", 7)

    assert refresh(client)["status"] == "completed"

    [warm] = started
    assert warm.used and stopped(warm)
    assert stored(app)[1] == blobs_before + 1
    assert_matches_scratch(client, tracked.repo, app, tmp_path / "scratch")


def test_no_push_starts_no_cloc_even_when_forced(
    client: Any, app: Any, github: GitHubStandIn, tracked: SampleHistory, started: list[WarmCloc]
) -> None:
    before = stored(app)
    assert refresh(client, query="?force=1")["status"] == "completed"
    assert started == []
    assert stored(app)[:2] == before[:2]


def test_a_push_of_known_contents_stops_the_unused_cloc(
    client: Any, app: Any, github: GitHubStandIn, tracked: SampleHistory, started: list[WarmCloc], tmp_path: Path
) -> None:
    _, blobs_before, project = stored(app)
    known = tracked.repo.git("show", "HEAD:src/main app.py")
    push(tracked, github, "copy/main app.py", known, 8)  # same content and name: counted before

    assert refresh(client)["status"] == "completed"

    [warm] = started
    assert not warm.used and stopped(warm)
    _, blobs_after, after = stored(app)
    assert blobs_after == blobs_before
    assert after.loc == project.loc  # cloc counts identical contents once
    assert_matches_scratch(client, tracked.repo, app, tmp_path / "scratch")
