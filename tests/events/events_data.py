"""Recorded GitHub events (tests/recordings/) and the metrics computed from them independently.

The expected values here are computed from the JSON, in Python, without the service's code: a
test that compares them with the API checks the SQL, not a copy of it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from typing import Any

from tests.standin.shapes import load_recording

PUBLIC = "events_public.pygithub.2020.json"
REPO = "events_repo.github3py.2018.json"
REPO_NAME = "sigmavirus24/github3.py"
REPO_ID = 3710711
LEGACY = {"PullRequestEvent": "pr_event", "WatchEvent": "watch_event", "IssuesEvent": "issue_event"}


def recorded_events(*names: str) -> list[dict[str, Any]]:
    """Return the events of the recorded pages (newest first within each page)."""
    events: list[dict[str, Any]] = []
    for name in names or (PUBLIC, REPO):
        for exchange in load_recording(name)["exchanges"]:
            body = exchange["response"]["body"]
            if isinstance(body, list):
                events.extend(body)
    return events


def created(event: dict[str, Any]) -> datetime:
    """Parse an event's `created_at`."""
    return datetime.strptime(event["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def iso(when: datetime | None) -> str | None:
    return None if when is None else when.strftime("%Y-%m-%dT%H:%M:%SZ")


def matches(event: dict[str, Any], event_type: str | None = None, action: str | None = None,
            repository_name: str | None = None, since: datetime | None = None) -> bool:  # fmt: skip
    """Tell whether an event passes the filters (action compared case-insensitively)."""
    event_action = event.get("payload", {}).get("action")
    return (
        (event_type is None or event["type"] == event_type)
        and (action is None or (event_action or "").lower() == action.lower())
        and (repository_name is None or event["repo"]["name"] == repository_name)
        and (since is None or created(event) >= since)
    )


def half_up(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01"), ROUND_HALF_UP))


def expected_avg_time(events: Iterable[dict[str, Any]], **filters: Any) -> dict[str, Any]:
    """Return the avg-time metric: the mean of the adjacent gaps, summed one by one."""
    times = sorted(created(e) for e in events if matches(e, **filters))
    gaps = [Decimal(int((b - a).total_seconds())) for a, b in pairwise(times)]
    return {
        "oldest_event_time": iso(times[0]) if times else None,
        "newest_event_time": iso(times[-1]) if times else None,
        "repository_name": filters.get("repository_name") or "all",
        "event_type": filters.get("event_type"),
        "events_count": len(times),
        "avg_time": half_up(sum(gaps) / len(gaps)) if gaps else None,
    }


def expected_total_count(events: Iterable[dict[str, Any]], types: Iterable[str], **filters: Any) -> dict[str, Any]:
    """Return the total-count metric: legacy keys, every documented or present type, total."""
    chosen = [e for e in events if matches(e, **filters)]
    counts = Counter(LEGACY.get(e["type"], e["type"]) for e in chosen)
    keys = {LEGACY.get(t, t) for t in types} | set(counts) | set(LEGACY.values())
    body = {key: counts.get(key, 0) for key in keys}
    body["total"] = len(chosen)
    return {
        "oldest_event_time": iso(min((created(e) for e in chosen), default=None)),
        "repository_name": filters.get("repository_name") or "all",
        "events_count": body,
    }


def expected_busy_repos(events: Iterable[dict[str, Any]], event_type: str, minimal: int) -> dict[str, int]:
    """Return repositories with strictly more than `minimal` events of a type."""
    counts = Counter(e["repo"]["name"] for e in events if e["type"] == event_type)
    return {name: n for name, n in counts.items() if n > minimal}


def cut_in_widest_gap(events: list[dict[str, Any]]) -> datetime:
    """Return the middle of the widest gap between two events: a window edge no clock drift moves across."""
    times = sorted({created(e) for e in events})
    earlier, later = max(pairwise(times), key=lambda pair: pair[1] - pair[0])
    return earlier + (later - earlier) / 2


def offset_reaching(cut: datetime) -> int:
    """Return the `offset` (seconds) whose window starts at `cut`, from now."""
    return int((datetime.now(UTC) - cut) / timedelta(seconds=1))
