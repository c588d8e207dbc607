"""Issue 12 part 3: window counts read `event_hours` for whole hours and raw events for the partial hour.

Every answer is compared with a computation over the raw events in Python, on the same data,
with windows starting on, just before, just after and inside hours.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from events import queries, store
from events.queries import EventFilter
from infra.extensions import db
from models import EventHour

pytestmark = pytest.mark.sqlite
BASE = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
TYPES = ("PushEvent", "WatchEvent", "IssuesEvent")
ACTIONS = {"PushEvent": [None], "WatchEvent": ["started"], "IssuesEvent": ["opened", "closed"]}
REPOS = ("octo/a", "octo/b")


def raw_event(event_id: int, kind: str, action: str | None, repo: str, at: datetime) -> dict[str, Any]:
    return {"id": str(event_id), "type": kind, "created_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "repo": {"id": REPOS.index(repo) + 1, "name": repo}, "actor": {"id": 1, "login": "octo"},
            "payload": {"action": action} if action else {}}  # fmt: skip


def sample() -> list[dict[str, Any]]:
    """Events on hour edges (xx:00:00, xx:59:59) and scattered over 6 hours."""
    rng = random.Random(12)
    times = [BASE + timedelta(hours=h, seconds=s) for h in range(6) for s in (0, 1, 1799, 3599)]
    times += [BASE + timedelta(seconds=rng.randrange(6 * 3600)) for _ in range(150)]
    events = []
    for index, at in enumerate(times, start=1000):
        kind = TYPES[index % 3]
        events.append(raw_event(index, kind, rng.choice(ACTIONS[kind]), REPOS[index % 2], at))
    return events


def when(event: dict[str, Any]) -> datetime:
    return datetime.strptime(event["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def expected(events: list[dict[str, Any]], f: EventFilter) -> dict[str, tuple[int, datetime, datetime]]:
    chosen: dict[str, list[datetime]] = {}
    for e in events:
        if f.event_type and e["type"] != f.event_type:
            continue
        if f.action and e["payload"].get("action") != f.action.lower():
            continue
        if f.repository_name and e["repo"]["name"] != f.repository_name:
            continue
        if f.since and when(e) < f.since:
            continue
        chosen.setdefault(e["type"], []).append(when(e))
    return {kind: (len(ts), min(ts), max(ts)) for kind, ts in sorted(chosen.items())}


def answered(f: EventFilter) -> dict[str, tuple[int, datetime | None, datetime | None]]:
    return {kind: (s.count, s.oldest, s.newest) for kind, s in queries.spans_by_type(f).items()}


def windows() -> list[datetime | None]:
    starts: list[datetime | None] = [None, BASE - timedelta(hours=1), BASE + timedelta(hours=7)]
    for hour in range(6):
        at = BASE + timedelta(hours=hour)
        starts += [at, at + timedelta(seconds=1), at - timedelta(seconds=1), at + timedelta(seconds=2),
                   at + timedelta(minutes=29, seconds=59), at + timedelta(seconds=3599)]  # fmt: skip
    return starts


def check_all(events: list[dict[str, Any]]) -> int:
    checked = 0
    for since in windows():
        for kind in (None, *TYPES):
            for action in (None, "opened", "STARTED"):
                for repo in (None, "octo/a"):
                    f = EventFilter(event_type=kind, action=action, repository_name=repo, since=since)
                    assert answered(f) == expected(events, f), f
                    total = queries.span(f)
                    want = expected(events, f).values()
                    assert (total.count, total.oldest, total.newest) == (
                        sum(c for c, _, _ in want),
                        min((o for _, o, _ in want), default=None),
                        max((n for _, _, n in want), default=None),
                    ), f
                    checked += 1
    return checked


def test_window_counts_equal_the_raw_computation_on_hour_edges(app: Any) -> None:
    events = sample()
    with app.app_context():
        assert store.store_events(events[:100]).inserted == 100
        assert store.store_events(events).inserted == len(events) - 100  # repeats are not counted twice
        assert check_all(events) == 39 * 4 * 3 * 2
        hours = db.session.scalar(select(db.func.sum(EventHour.count)))
        assert hours == len(events)


def test_prune_cutting_through_an_hour_keeps_exact_counts(app: Any) -> None:
    events = sample()
    now = datetime.now(UTC)
    days = 3
    cutoff_target = now - timedelta(days=days)
    # Move the sample so that the prune cutoff falls inside its third hour.
    shift = (cutoff_target - (BASE + timedelta(hours=2, minutes=30))).total_seconds() // 1
    moved = [{**e, "created_at": (when(e) + timedelta(seconds=shift)).strftime("%Y-%m-%dT%H:%M:%SZ")} for e in events]
    with app.app_context():
        store.store_events(moved)
        removed = store.prune_events(days)
        cutoff = datetime.now(UTC) - timedelta(days=days)
        kept = [e for e in moved if when(e) >= cutoff]
        assert removed == len(moved) - len(kept) > 0
        for since in (None, cutoff, cutoff - timedelta(hours=2), cutoff + timedelta(minutes=45)):
            for kind in (None, *TYPES):
                f = EventFilter(event_type=kind, since=since)
                assert answered(f) == expected(kept, f), f


def test_anonymous_window_counts_leave_out_private_and_concealed_events(app: Any) -> None:
    """Hours keyed by `public`, less a concealed tracked repository's public events, equal the raw computation."""
    from reports.projects import event_visibility
    from tests.repo_helpers import add_project

    # Every third event is private (`public: false`); octo/b (GitHub id 2) is tracked as hidden, so its
    # public events are concealed too; octo/a is untracked and public.
    events = [{**e, "public": i % 3 != 0} for i, e in enumerate(sample())]
    add_project(app, "octo", "b", github_id=2, private=False, hidden=True)
    shown = [e for e in events if e["public"] and e["repo"]["name"] != "octo/b"]
    with app.app_context():
        store.store_events(events)
        rows = db.session.execute(select(EventHour.public, db.func.sum(EventHour.count)).group_by(EventHour.public))
        assert dict(rows.all()) == {True: sum(e["public"] for e in events), False: sum(not e["public"] for e in events)}
        scope = event_visibility(admin=False)
        assert 0 < len(shown) < len(events)
        for since in windows():
            for kind in (None, *TYPES):
                for action in (None, "opened"):
                    f = EventFilter(event_type=kind, action=action, since=since, **scope)
                    assert answered(f) == expected(shown, f), f
        assert event_visibility(admin=True) == {}
