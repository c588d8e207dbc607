"""Issue 11: two workers with their own CACHE_DIR (two machines) alternating stay incremental."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fixtures_git import SampleHistory
from tests.refresh.test_incremental import assert_matches_scratch
from tests.refresh.test_stateless import add_commit, allow_filters, is_blobless
from tests.refresh_helpers import refresh
from tests.standin.server import GitHubStandIn


def mirror_in(cache: Path) -> Path:
    (mirror,) = (cache / "mirrors").glob("*.git")
    return mirror


def test_two_workers_with_their_own_cache_alternate_incrementally(
    rq_app: Any, rq_workers: Any, github: GitHubStandIn, sample_history: SampleHistory, tmp_path: Path
) -> None:
    allow_filters(sample_history.repo.bare)
    github.add_repo("sample", clone_url=sample_history.url, languages={"Python": 100})
    client = rq_app.test_client()
    caches = {"a": tmp_path / "cache-a", "b": tmp_path / "cache-b"}

    def run_on(machine: str) -> str:
        worker = rq_workers.start(env={"CACHE_DIR": str(caches[machine])})
        try:
            assert refresh(client, timeout=600)["status"] == "completed"
        finally:
            rq_workers.stop_one(worker)
        return rq_workers.log_of(worker)

    assert "history full (+7/-0), loc recounted" in run_on("a")
    for day, machine in ((20, "b"), (21, "a"), (22, "b"), (23, "a")):
        add_commit(sample_history, github, f"src/day{day}.py", day)
        assert "history incremental (+1/-0), loc recounted" in run_on(machine), machine

    assert is_blobless(mirror_in(caches["b"])) and not is_blobless(mirror_in(caches["a"]))
    assert_matches_scratch(client, sample_history.repo, rq_app, tmp_path / "scratch")
    assert "Traceback" not in rq_workers.logs()
