"""Hostile repositories through the whole refresh: the repository finishes, or fails alone and clearly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.gitrepos import RepoBuilder
from tests.refresh_helpers import refresh
from tests.standin.server import GitHubStandIn


def by_name(client: Any) -> dict[str, dict[str, Any]]:
    return {r["repo_name"]: r for r in client.get("/api/repos?per_page=100").get_json()["items"]}


def test_a_newline_bomb_and_odd_entries_refresh_cleanly(client: Any, github: GitHubStandIn, tmp_path: Path) -> None:
    repo = RepoBuilder(tmp_path / "hostile")
    repo.write("app.py", "x = 1\ny = 2\n")
    repo.commit("start")
    repo.write("bomb.py", b"\n" * (9 * 1024 * 1024))  # over LARGE_FILE_BYTES: binary
    repo.write("tab\there.py", "a = 1\n")
    repo.symlink("link.py", "/etc/passwd")
    repo.gitlink("vendor/sub", "2" * 40)
    repo.commit("hostile")
    github.add_repo("hostile", clone_url=repo.publish(), languages={"Python": 10})
    job = refresh(client)
    assert (job["status"], job["repositories_failed"]) == ("completed", 0)
    stored = by_name(client)["hostile"]
    # LOC: app.py 2 + tab\there.py 1. Churn: 2 (start) + 1 (tab) + 1 (link) + 1 (gitlink), bomb 0.
    assert (stored["loc"], stored["commits"], stored["code_churn"], stored["last_error"]) == (3, 2, 5, None)


def test_untrusted_clone_urls_fail_only_their_repository(client: Any, github: GitHubStandIn, tmp_path: Path) -> None:
    good = RepoBuilder(tmp_path / "good")
    good.write("a.py", "a = 1\n")
    good.commit("a")
    github.add_repo("good", clone_url=good.publish())
    github.add_repo("elsewhere", clone_url="https://evil.example/o/r.git")
    github.add_repo("huge", clone_url=good.bare.as_uri(), size=11 * 1024 * 1024)  # KB: 11 GB > CACHE_MAX_GB
    job = refresh(client)
    assert (job["status"], job["repositories_failed"]) == ("completed", 2)
    stored = by_name(client)
    assert stored["good"]["loc"] == 1 and stored["good"]["last_error"] is None
    host = github.api_url.split("://", 1)[1].split("/", 1)[0]
    assert stored["elsewhere"]["last_error"] == (
        f"refusing clone URL on https://evil.example: only http://{host} is trusted"
    )
    assert stored["huge"]["last_error"] == (
        "repository is 11264 MB, larger than the mirror cache (10240 MB, CACHE_MAX_GB): not cloned"
    )
