"""Seed 003's event metrics and the events list, against the recorded events, on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from events import store
from events.kinds import EVENT_TYPES
from tests.events.events_data import (
    PUBLIC,
    REPO,
    REPO_NAME,
    created,
    cut_in_widest_gap,
    expected_avg_time,
    expected_busy_repos,
    expected_total_count,
    matches,
    offset_reaching,
    recorded_events,
)

pytestmark = pytest.mark.sqlite
EVENTS = recorded_events()
PUBLIC_ONLY_REPO = next(e["repo"]["name"] for e in recorded_events(PUBLIC) if e["type"] == "PullRequestEvent")


def save(app: Any, events: list[dict[str, Any]]) -> store.StoreResult:
    with app.app_context():
        return store.store_events(events)


@pytest.fixture
def recorded(app: Any) -> list[dict[str, Any]]:
    """Store both recorded event pages."""
    result = save(app, EVENTS)
    assert (result.seen, result.inserted, result.malformed) == (130, 130, 0)
    return EVENTS


def synthetic(count: int, start: datetime, step: timedelta, kind: str = "WatchEvent") -> list[dict[str, Any]]:
    """Return `count` minimal events `step` apart (edge cases only; metric tests use the recordings)."""
    return [
        {"id": 1_000 + i, "type": kind, "created_at": (start + i * step).strftime("%Y-%m-%dT%H:%M:%SZ"),
         "repo": {"id": 1, "name": "octo-owner/alpha"}, "actor": {"id": 2, "login": "fan"},
         "payload": {"action": "started"}}
        for i in range(count)
    ]  # fmt: skip


AVG_FILTERS = [
    {},
    {"event_type": "PushEvent"},
    {"event_type": "IssueCommentEvent", "action": "CREATED"},
    {"event_type": "WatchEvent", "repository_name": REPO_NAME},
    {"repository_name": REPO_NAME, "action": "closed"},
    {"event_type": "PullRequestEvent", "repository_name": PUBLIC_ONLY_REPO},
    {"event_type": "ReleaseEvent"},
]


@pytest.mark.parametrize("filters", AVG_FILTERS, ids=lambda f: "&".join(f"{k}={v}" for k, v in f.items()) or "all")
def test_avg_time_matches_the_recorded_events(client: Any, recorded: list[dict[str, Any]], filters: dict) -> None:
    response = client.get("/api/events/metrics/avg-time", query_string=filters)
    assert response.status_code == 200
    assert response.get_json() == expected_avg_time(recorded, **filters)


def test_avg_time_of_the_repository_pushes_is_a_known_number(client: Any, recorded: list[dict[str, Any]]) -> None:
    body = client.get(f"/api/events/metrics/avg-time?event_type=PushEvent&repository_name={REPO_NAME}").get_json()
    # 13 pushes from 2018-01-30T14:46:31Z to 2018-02-24T16:08:34Z: 2164923 s / 12 gaps
    assert (body["events_count"], body["avg_time"]) == (13, 180410.25)


@pytest.mark.parametrize(
    ("count", "avg"), [(0, None), (1, None), (2, 3723.0), (3, 3723.0)], ids=["0 events", "1 event", "2 events", "3"]
)
def test_avg_time_with_few_events(client: Any, app: Any, count: int, avg: float | None) -> None:
    events = synthetic(count, datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC), timedelta(hours=1, minutes=2, seconds=3))
    save(app, events)
    body = client.get("/api/events/metrics/avg-time?event_type=WatchEvent").get_json()
    assert body["events_count"] == count
    assert body["avg_time"] == avg
    assert body["oldest_event_time"] == (events[0]["created_at"] if events else None)


def test_avg_time_rounds_to_two_decimals_half_up(client: Any, app: Any) -> None:
    start = datetime(2024, 3, 1, tzinfo=UTC)
    events = synthetic(9, start, timedelta(0))
    events[-1]["created_at"] = (start + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    save(app, events)
    # 9 events over 1 s: 1/8 = 0.125 → 0.13
    assert client.get("/api/events/metrics/avg-time").get_json()["avg_time"] == 0.13


def window_cases() -> list[tuple[str, datetime, dict[str, str]]]:
    widest = cut_in_widest_gap(EVENTS)  # between the 2018 page and the 2020 page
    inside_2018 = cut_in_widest_gap(recorded_events(REPO))
    return [
        ("everything", datetime(2000, 1, 1, tzinfo=UTC), {}),
        ("2020 page only", widest, {}),
        ("part of 2018", inside_2018, {}),
        ("part of 2018, one repo", inside_2018, {"repository_name": REPO_NAME}),
        ("everything, action opened", datetime(2000, 1, 1, tzinfo=UTC), {"action": "Opened"}),
        ("nothing in the window", datetime.now(UTC) - timedelta(days=1), {}),
    ]


@pytest.mark.parametrize(("case", "cut", "filters"), window_cases(), ids=[c[0] for c in window_cases()])
def test_total_count_matches_the_recorded_events(
    client: Any, recorded: list[dict[str, Any]], case: str, cut: datetime, filters: dict[str, str]
) -> None:
    offset = offset_reaching(cut)
    response = client.get("/api/events/metrics/total-count", query_string={"offset": offset, **filters})
    assert response.status_code == 200
    assert response.get_json() == expected_total_count(recorded, EVENT_TYPES, since=cut, **filters)


def test_total_count_keeps_seed_003_keys_and_adds_the_rest(client: Any, recorded: list[dict[str, Any]]) -> None:
    counts = client.get("/api/events/metrics/total-count?offset=999999999").get_json()["events_count"]
    assert (counts["pr_event"], counts["watch_event"], counts["issue_event"]) == (11, 11, 10)
    assert "PullRequestEvent" not in counts and counts["IssueCommentEvent"] == 45
    assert counts["total"] == 130 == sum(v for k, v in counts.items() if k != "total")


@pytest.mark.parametrize("count", [0, 1, 2])
def test_total_count_with_few_events(client: Any, app: Any, count: int) -> None:
    save(app, synthetic(count, datetime.now(UTC) - timedelta(minutes=30), timedelta(minutes=1)))
    body = client.get("/api/events/metrics/total-count?offset=3600").get_json()
    assert (body["events_count"]["watch_event"], body["events_count"]["total"]) == (count, count)
    assert (body["oldest_event_time"] is None) == (count == 0)


@pytest.mark.parametrize(
    ("event_type", "minimal"),
    [("IssueCommentEvent", 2), ("IssueCommentEvent", 45), ("IssueCommentEvent", 44), ("PushEvent", 0),
     ("PushEvent", 1), ("WatchEvent", 7), ("ReleaseEvent", 1)],
)  # fmt: skip
def test_multiple_events_repos_matches_the_recorded_events(
    client: Any, recorded: list[dict[str, Any]], event_type: str, minimal: int
) -> None:
    query = {"event_type": event_type, **({"minimal_events_count": minimal} if minimal else {})}
    response = client.get("/api/events/metrics/multiple-events-repos", query_string=query)
    assert response.status_code == 200
    expected = expected_busy_repos(recorded, event_type, minimal or 2)
    assert response.get_json() == {"event_type": event_type, "repositories": expected}


def test_multiple_events_repos_counts_strictly_more(client: Any, recorded: list[dict[str, Any]]) -> None:
    url = "/api/events/metrics/multiple-events-repos?event_type=IssueCommentEvent&minimal_events_count="
    assert client.get(url + "44").get_json()["repositories"] == {REPO_NAME: 45}
    assert client.get(url + "45").get_json()["repositories"] == {}


def test_events_list_filters_and_pages_newest_first(client: Any, recorded: list[dict[str, Any]]) -> None:
    chosen = [e for e in recorded if matches(e, repository_name=REPO_NAME, action="created")]
    order = [int(e["id"]) for e in sorted(chosen, key=lambda e: (created(e), int(e["id"])), reverse=True)]
    first = client.get(f"/api/events?repository_name={REPO_NAME}&action=created&per_page=20").get_json()
    second = client.get(f"/api/events?repository_name={REPO_NAME}&action=created&per_page=20&page=2").get_json()
    assert (first["total"], first["pages"], first["page"]) == (len(order), 3, 1)
    assert [e["id"] for e in first["events"] + second["events"]] == order[:40]
    sample = next(e for e in recorded if int(e["id"]) == order[0])
    assert first["events"][0] | {"inserted_at": None} == {
        "id": order[0], "type": sample["type"], "action": "created", "repository_id": 3710711,
        "repository_name": REPO_NAME, "actor_id": sample["actor"]["id"], "actor_login": sample["actor"]["login"],
        "created_at": sample["created_at"], "inserted_at": None, "payload": sample["payload"],
    }  # fmt: skip


def test_events_list_window_and_type(client: Any, recorded: list[dict[str, Any]]) -> None:
    cut = cut_in_widest_gap(EVENTS)
    body = client.get(f"/api/events?offset={offset_reaching(cut)}&event_type=PushEvent&per_page=100").get_json()
    assert body["total"] == len([e for e in recorded if matches(e, event_type="PushEvent", since=cut)]) == 16


def test_storing_the_same_pages_again_adds_nothing(client: Any, app: Any, recorded: list[dict[str, Any]]) -> None:
    again = save(app, recorded[:50] + recorded)  # overlapping pages
    assert (again.seen, again.inserted) == (180, 0)
    assert client.get("/api/events?per_page=1").get_json()["total"] == 130


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/events/metrics/total-count?offset=-5", "offset"),
        ("/api/events/metrics/total-count?offset=0", "offset"),
        ("/api/events/metrics/total-count", "offset"),
        ("/api/events/metrics/total-count?offset=abc", "offset"),
        ("/api/events/metrics/total-count?offset=60&event_typ=PushEvent", "event_typ"),
        ("/api/events/metrics/avg-time?event_type=PushEvents", "event_type"),
        ("/api/events/metrics/avg-time?event_type=pushevent", "event_type"),
        ("/api/events/metrics/avg-time?repository_name=", "repository_name"),
        ("/api/events/metrics/multiple-events-repos", "event_type"),
        (
            "/api/events/metrics/multiple-events-repos?event_type=PushEvent&minimal_events_count=0",
            "minimal_events_count",
        ),
        (
            "/api/events/metrics/multiple-events-repos?event_type=PushEvent&minimal_events_count=x",
            "minimal_events_count",
        ),
        ("/api/events?page=0", "page"),
        ("/api/events?per_page=101", "per_page"),
        ("/api/events?offset=-1", "offset"),
        ("/charts/events-total-count?offset=-1", "offset"),
        ("/charts/event-avg-time?event_type=Unknown", "event_type"),
    ],
)
def test_invalid_parameters_are_422_with_the_field(client: Any, url: str, field: str) -> None:
    response = client.get(url)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "validation_error"
    assert [d["field"] for d in body["details"]] == [field]
    assert all(d["location"] == "query" and d["message"] for d in body["details"])
