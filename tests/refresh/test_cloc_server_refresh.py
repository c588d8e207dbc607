"""Issue 11: a refresh after a push starts the cloc server before fetching, and only then; counts match."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from analysis import cloc_server, loc
from analysis.counters import server_options
from analysis.gitcmd import Limits
from infra.runtime import runtime
from refresh.project import child_limits
from tests.fixtures_git import SampleHistory
from tests.refresh.test_incremental import assert_matches_scratch, stored
from tests.refresh_helpers import refresh
from tests.standin.server import GitHubStandIn

pytestmark = pytest.mark.sqlite


@pytest.fixture
def starts(monkeypatch: pytest.MonkeyPatch) -> list[Limits]:
    """Record the limits of every cloc server start a refresh asks for."""
    original, seen = loc.start_cloc, []

    def recording(cloc_path: str | None, *, limits: Limits, max_bytes: int) -> None:
        seen.append(limits)
        original(cloc_path, limits=limits, max_bytes=max_bytes)

    monkeypatch.setattr(loc, "start_cloc", recording)
    return seen


def served_counts(app: Any) -> int:
    """Counts made by this process's cloc server for the app's settings (0 without a server)."""
    with app.app_context():
        settings = runtime().settings
        key = (loc.find_cloc(settings.cloc_path), tuple(server_options(settings.large_file_bytes)),
               child_limits(settings))  # fmt: skip
    running = cloc_server._servers.get(key)  # type: ignore[arg-type]
    return running.counts if running is not None else 0


def assert_refreshed(client: Any, query: str = "") -> None:
    job = refresh(client, query=query)
    assert (job["status"], job["errors"]) == ("completed", [])


def push(tracked: SampleHistory, github: GitHubStandIn, path: str, content: str, day: int) -> None:
    tracked.repo.write(path, content)
    tracked.repo.commit(f"Change {path}", at=datetime(2024, 3, day, 9, 0, tzinfo=UTC))
    tracked.repo.publish()
    github.update_repo("sample", pushed_at=datetime(2024, 3, day, 9, 0, 5, tzinfo=UTC))


def test_a_push_is_counted_by_the_server_started_before_the_fetch(
    client: Any, app: Any, github: GitHubStandIn, tracked: SampleHistory, starts: list[Limits], tmp_path: Path
) -> None:
    _, blobs_before, _ = stored(app)
    served = served_counts(app)
    push(tracked, github, "src/warm.py", "def warm():\n    return 'compiled early'\n", 7)

    assert_refreshed(client)

    assert len(starts) == 2  # before the metadata call and after it (the second finds it running)
    assert served_counts(app) == served + 1
    assert stored(app)[1] == blobs_before + 1
    assert_matches_scratch(client, tracked.repo, app, tmp_path / "scratch")


def test_no_push_starts_no_cloc_even_when_forced(
    client: Any, app: Any, github: GitHubStandIn, tracked: SampleHistory, starts: list[Limits]
) -> None:
    before, served = stored(app), served_counts(app)
    assert_refreshed(client, "?force=1")
    assert starts == []
    assert stored(app)[:2] == before[:2] and served_counts(app) == served


def test_a_push_of_known_contents_counts_nothing(
    client: Any, app: Any, github: GitHubStandIn, tracked: SampleHistory, starts: list[Limits], tmp_path: Path
) -> None:
    _, blobs_before, project = stored(app)
    served = served_counts(app)
    known = tracked.repo.git("show", "HEAD:src/main app.py")
    push(tracked, github, "copy/main app.py", known, 8)  # same content and name: counted before

    assert_refreshed(client)

    assert starts and served_counts(app) == served
    _, blobs_after, after = stored(app)
    assert blobs_after == blobs_before
    assert after.loc == project.loc  # cloc counts identical contents once
    assert_matches_scratch(client, tracked.repo, app, tmp_path / "scratch")


def test_without_a_server_the_counts_are_the_same(
    client: Any, app: Any, github: GitHubStandIn, tracked: SampleHistory, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    monkeypatch.setattr(cloc_server, "server", lambda *args, **kwargs: None)  # as without Perl
    served = served_counts(app)
    push(tracked, github, "src/cold.py", "def cold():\n    return 'no server'\n", 9)
    assert_refreshed(client)
    assert served_counts(app) == served
    assert_matches_scratch(client, tracked.repo, app, tmp_path / "scratch")
