"""Commit history endpoints (seed 002) against expectations computed from the scripted history."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, timedelta
from typing import Any

import pytest

from tests.fixtures_git import MAILMAP, SampleHistory

pytestmark = pytest.mark.sqlite


def sample_id(client: Any) -> int:
    return client.get("/api/projects").get_json()[0]["id"]


def test_commit_pages_cover_the_history_newest_first(client: Any, tracked: SampleHistory) -> None:
    repo_id = sample_id(client)
    history = tracked.repo.history()
    expected = [c.sha for c in sorted(history, key=lambda c: c.committed_at, reverse=True)]
    shas, cursor, pages = [], None, 0
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(f"/api/repos/{repo_id}/commits?{query}").get_json()
        shas += [c["sha"] for c in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert shas == expected
    assert pages == 4
    first = client.get(f"/api/repos/{repo_id}/commits?limit=1").get_json()["items"][0]
    tip = tracked.commits["c6"]
    assert first == {
        "sha": tip.sha,
        "author_name": "Alice Example",  # .mailmap maps the old identity
        "author_email": "alice@example.com",
        "authored_at": tip.authored_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "committer_name": "Alice Example",
        "committed_at": "2024-03-06T12:00:00Z",
        "subject": "Add mailmap",
        "additions": tip.additions,
        "deletions": tip.deletions,
        "files_changed": tip.files_changed,
        "is_merge": False,
    }


def test_commit_filters(client: Any, tracked: SampleHistory) -> None:
    repo_id = sample_id(client)
    history = tracked.repo.history()
    since, until = "2024-03-02T10:00:00Z", "2024-03-04T12:00:00Z"
    body = client.get(f"/api/repos/{repo_id}/commits?since={since}&until={until}&limit=50").get_json()
    low, high = date(2024, 3, 2), date(2024, 3, 4)
    window = {
        c.sha for c in history
        if (c.committed_at.astimezone(UTC).date(), c.committed_at.astimezone(UTC).hour) >= (low, 10)
        and (c.committed_at.astimezone(UTC).date(), c.committed_at.astimezone(UTC).hour) < (high, 12)
    }  # fmt: skip
    assert {c["sha"] for c in body["items"]} == window
    bob = client.get(f"/api/repos/{repo_id}/commits?author=BOB@example.org").get_json()
    assert {c["sha"] for c in bob["items"]} == {c.sha for c in history if c.author.email == "bob@example.org"}


@pytest.mark.parametrize(
    "query",
    [
        "since=yesterday",
        "limit=0",
        "limit=501",
        "cursor=%%%",
        "bogus=1",
        "since=2024-03-05T00:00:00Z&until=2024-03-01T00:00:00Z",
        "since=2024-03-05T00:00:00",
    ],
)
def test_commit_query_validation(client: Any, tracked: SampleHistory, query: str) -> None:
    response = client.get(f"/api/repos/{sample_id(client)}/commits?{query}")
    assert response.status_code == 422
    assert response.get_json()["code"] == "validation_error"
    assert response.get_json()["details"]


def test_unknown_repository_is_404(client: Any) -> None:
    for path in ("/api/repos/4242/commits", "/api/repos/4242/activity", "/api/commits/top-contributors?repo=4242"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.get_json()["error"] == "Repository not found"


def test_top_contributors_merge_mailmap_identities(client: Any, tracked: SampleHistory) -> None:
    history = tracked.repo.history()
    canonical = [MAILMAP.get(c.author, c.author) for c in history]
    counts = Counter(a.email for a in canonical)
    body = client.get("/api/commits/top-contributors?limit=2").get_json()
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:2]
    assert [(c["email"], c["commits"]) for c in body["contributors"]] == ranked
    alice = body["contributors"][0]
    assert (alice["name"], alice["email"], alice["commits"]) == ("Alice Example", "alice@example.com", 3)
    mine = [c for c, who in zip(history, canonical, strict=True) if who.email == "alice@example.com"]
    assert alice["additions"] == sum(c.additions for c in mine)
    assert alice["deletions"] == sum(c.deletions for c in mine)
    scoped = client.get(f"/api/commits/top-contributors?repo={sample_id(client)}&limit=10").get_json()
    assert sum(c["commits"] for c in scoped["contributors"]) == len(history)


@pytest.mark.parametrize("bucket", ["day", "week", "month"])
def test_activity_buckets(client: Any, tracked: SampleHistory, bucket: str) -> None:
    def start(day: date) -> date:
        if bucket == "week":
            return day - timedelta(days=day.weekday())
        return day.replace(day=1) if bucket == "month" else day

    expected: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for commit in tracked.repo.history():
        point = expected[start(commit.committed_at.astimezone(UTC).date()).isoformat()]
        point[0] += 1
        point[1] += commit.additions
        point[2] += commit.deletions
    body = client.get(f"/api/repos/{sample_id(client)}/activity?bucket={bucket}").get_json()
    assert body["bucket"] == bucket
    assert [(p["start"], [p["commits"], p["additions"], p["deletions"]]) for p in body["points"]] == sorted(
        expected.items()
    )


def test_reset_collection_date_without_a_body_is_the_documented_422(app: Any, client: Any) -> None:
    from tests.repo_helpers import add_project

    repo_id = add_project(app, "octo-owner", "resettable")
    answer = client.post(f"/api/repos/{repo_id}/reset-collection-date")
    assert answer.status_code == 422
    assert answer.get_json() == {
        "error": "Invalid input",
        "code": "validation_error",
        "details": [{"location": "json", "field": "reset_from", "message": "Field required"}],
    }
    spec = client.get("/openapi.json").get_json()["paths"]
    assert "422" in spec["/api/repos/{repo_id}/reset-collection-date"]["post"]["responses"]
    assert "404" in spec["/api/commits/top-contributors"]["get"]["responses"]
    assert client.get("/api/commits/top-contributors?repo=999999").status_code == 404
