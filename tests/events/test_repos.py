"""Issue 12 part 3: `event_repos` (per repository, type, action and `public` flag) kept at ingest, and the reads
it serves, under the visibility rule (reports/projects.py: private events and concealed repositories left out).

Every stored count is compared with a count computed in Python from the events handed to
`store_events`, after re-ingest (batch and within-batch repeats) and after a prune, and every
metric read from it with the same computation over the raw input, on PostgreSQL and SQLite.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from events import queries, store
from events.queries import EventFilter
from infra.extensions import db
from models import Event, EventHour, EventRepo
from reports.projects import event_visibility
from tests.repo_helpers import add_project

pytestmark = pytest.mark.sqlite
NOW = datetime.now(UTC).replace(microsecond=0)
TYPES = ("PushEvent", "WatchEvent", "IssuesEvent")
ACTIONS = {"PushEvent": [None], "WatchEvent": ["started"], "IssuesEvent": ["opened", "Closed"]}
# (name, id): a renamed repository (same id, two names), one without a name, one without an id
REPOS = [("octo/a", 1), ("octo/b", 2), ("octo/old-a", 1), (None, 3), ("octo/c", None)]


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def sample(count: int = 300, seed: int = 5) -> list[dict[str, Any]]:
    """Events of REPOS; every fifth is private (`public: false`), one in seven has no `public` flag (public)."""
    rng = random.Random(seed)
    events = []
    for index in range(count):
        kind = rng.choice(TYPES)
        action = rng.choice(ACTIONS[kind])
        name, repo_id = rng.choice(REPOS)
        repo = {key: value for key, value in (("name", name), ("id", repo_id)) if value is not None}
        events.append({"id": str(5000 + index), "type": kind, "created_at": stamp(NOW - timedelta(hours=rng.randrange(
            1, 24 * 40), seconds=rng.randrange(3600))), "repo": repo, "actor": {"id": 7, "login": "octo"},
            "payload": {"action": action} if action else {}})  # fmt: skip
        if index % 5 == 0:
            events[-1]["public"] = False
        elif index % 7:
            events[-1]["public"] = True
    return events


def when(event: dict[str, Any]) -> datetime:
    return datetime.strptime(event["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def key(event: dict[str, Any]) -> tuple[str, str, str, int, bool]:
    action = event["payload"].get("action")
    return (event["repo"].get("name", ""), event["type"], action.lower() if action else "", event["repo"].get("id", 0),
            event.get("public", True))  # fmt: skip


Row = dict[tuple[str, str, str, int, bool], tuple[int, datetime, datetime]]


def expected_rows(events: list[dict[str, Any]]) -> Row:
    grouped: dict[tuple[str, str, str, int, bool], list[datetime]] = {}
    for event in events:
        grouped.setdefault(key(event), []).append(when(event))
    return {k: (len(ts), min(ts), max(ts)) for k, ts in grouped.items()}


def stored_rows() -> Row:
    return {(r.repo_name, r.type, r.action, r.repo_id, r.public): (r.count, r.oldest, r.newest)
            for r in db.session.scalars(select(EventRepo))}  # fmt: skip


def test_event_repos_equal_a_count_of_the_stored_events_after_repeats_and_a_prune(app: Any) -> None:
    events = sample()
    with app.app_context():
        assert store.store_events(events[:120] + events[100:130]).inserted == 130  # repeats within a batch
        assert store.store_events(events).inserted == len(events) - 130  # and across batches
        assert store.store_events(events[::7]).inserted == 0
        assert stored_rows() == expected_rows(events)
        removed = store.prune_events(30)
        cutoff = datetime.now(UTC) - timedelta(days=30)
        kept = [e for e in events if when(e) >= cutoff]
        assert removed == len(events) - len(kept) > 0
        assert stored_rows() == expected_rows(kept)
        assert sorted(db.session.scalars(select(Event.id))) == sorted(int(e["id"]) for e in kept)


# Tracked repositories the anonymous reader may not see: (owner/name, GitHub id or None)
CONCEALED = [
    [("octo/b", None)],  # no id: matched by name
    [("octo/a", 1)],  # by id: octo/old-a (the same id) too, and by name only events without an id
    [("octo/c", 77)],  # octo/c's events carry no id: matched by name
    [("octo/nobody", None)],
    [],
]


def shown(event: dict[str, Any], concealed: list[tuple[str, int | None]]) -> bool:
    """The visibility rule, computed independently: public, and not of a concealed tracked repository."""
    name, repo_id = (event["repo"].get("name") or "").lower(), event["repo"].get("id")
    ids = {i for _, i in concealed if i is not None}
    hidden = (repo_id in ids or (repo_id is None and any(name == n for n, _ in concealed))
              or any(name == n for n, i in concealed if i is None))  # fmt: skip
    return event.get("public", True) is True and not hidden


def conceal(app: Any, concealed: list[tuple[str, int | None]]) -> None:
    for index, (full_name, repo_id) in enumerate(concealed):
        owner, name = full_name.split("/")
        add_project(app, owner, name, github_id=repo_id, private=index % 2 == 0, hidden=index % 2 == 1)


def raw_busy(events: list[dict[str, Any]], kind: str, minimum: int) -> dict[str, int]:
    names = [e["repo"].get("name") for e in events if e["type"] == kind]
    counts = Counter(name for name in names if name is not None)
    return dict(sorted(((n, c) for n, c in counts.items() if c > minimum), key=lambda item: (-item[1], item[0])))


@pytest.mark.parametrize("concealed", CONCEALED)
def test_busy_repositories_equal_the_raw_computation(app: Any, concealed: list[tuple[str, int | None]]) -> None:
    events = sample()
    conceal(app, concealed)
    with app.app_context():
        store.store_events(events)
        for admin in (True, False):
            scope = event_visibility(admin=admin)
            seen = events if admin else [e for e in events if shown(e, concealed)]
            for kind in TYPES:
                for minimum in (1, 15, 30, 10_000):
                    found = queries.multiple_events_repos(EventFilter(event_type=kind, **scope), minimum)
                    assert found == {"event_type": kind, "repositories": raw_busy(seen, kind, minimum)}
                    assert list(found["repositories"]) == list(raw_busy(seen, kind, minimum))  # order


@pytest.mark.parametrize("concealed", CONCEALED)
def test_window_counts_follow_the_visibility_rule(app: Any, concealed: list[tuple[str, int | None]]) -> None:
    events = sample()
    conceal(app, concealed)
    with app.app_context():
        store.store_events(events)
        scope = event_visibility(admin=False)
        seen = [e for e in events if shown(e, concealed)]
        assert 0 < len(seen) < len(events)
        for days in (None, 1, 7, 45):
            since = None if days is None else NOW - timedelta(days=days, minutes=17)
            for kind in (None, "IssuesEvent"):
                for repository in (None, "octo/a", "octo/b", "octo/c"):
                    f = EventFilter(event_type=kind, since=since, repository_name=repository, **scope)
                    chosen = [e for e in seen if (since is None or when(e) >= since)
                              and (kind is None or e["type"] == kind)
                              and (repository is None or e["repo"].get("name") == repository)]  # fmt: skip
                    times = [when(e) for e in chosen]
                    found = queries.span(f)
                    assert (found.count, found.oldest, found.newest) == (
                        len(chosen), min(times, default=None), max(times, default=None)), f  # fmt: skip
                    listed = queries.list_events(f, 1, 5)
                    assert listed["total"] == len(chosen)
                    assert [e["id"] for e in listed["events"]] == [
                        int(e["id"]) for e in sorted(chosen, key=lambda e: (when(e), int(e["id"])), reverse=True)[:5]
                    ]


def test_odd_characters_are_stored_exactly_and_nul_dropped(app: Any) -> None:
    odd = "tab\there\nnew\\line\rcr\x00nul ünï \\N"
    payload = {"action": odd, "body": odd, odd: [odd, 1.5, None]}
    event = {"id": "77", "type": "PushEvent", "created_at": stamp(NOW), "repo": {"id": 9, "name": f"o/{odd}"},
             "actor": {"id": 1, "login": odd}, "payload": payload}  # fmt: skip
    clean = odd.replace("\x00", "")
    with app.app_context():
        assert store.store_events([event]).inserted == 1
        row = db.session.get(Event, 77)
        assert (row.repo_name, row.actor_login, row.action) == (f"o/{clean}", clean, clean.lower())
        # PostgreSQL's payload drops U+0000 too; SQLite's JSON keeps the payload as sent
        text = clean if db.engine.dialect.name == "postgresql" else odd
        assert row.payload == {"action": text, "body": text, text: [text, 1.5, None]}
        assert stored_rows() == {(f"o/{clean}", "PushEvent", clean.lower(), 9, True): (1, NOW, NOW)}


def test_a_batch_of_several_copy_rounds_is_stored_once(app: Any) -> None:
    events = sample(count=2 * store.ROUND + 345, seed=8)
    with app.app_context():
        assert store.store_events(events[: store.ROUND + 10]).inserted == store.ROUND + 10
        assert store.store_events(events + events[:50]).inserted == len(events) - store.ROUND - 10
        assert stored_rows() == expected_rows(events)
        hours = Counter(when(e).replace(minute=0, second=0) for e in events)
        stored_hours = Counter()
        for hour, count in db.session.execute(select(EventHour.hour, EventHour.count)):
            stored_hours[hour] += count
        assert stored_hours == hours


def test_a_large_batch_with_repeats_odd_text_and_malformed_events_is_stored_exactly(app: Any) -> None:
    """A batch of at least DIRECT_FROM events takes the COPY straight into `events` on PostgreSQL."""
    odd = "tab\there\nnew\\line\rcr\x00nul ünï \\N"
    events = sample(count=store.DIRECT_FROM + 20, seed=11)
    events[7] = {**events[7], "actor": {"id": 1, "login": odd}, "payload": {"action": odd, odd: [odd]},
                 "repo": {"id": 9, "name": f"o/{odd}"}}  # fmt: skip
    batch = [*events, events[3], {"type": "PushEvent"}, "not an object", {**events[0], "id": "x"}]
    clean = odd.replace("\x00", "")
    with app.app_context():
        result = store.store_events(batch)
        assert (result.seen, result.inserted, result.malformed) == (len(events) + 4, len(events), 3)
        assert result.newest_id == 5000 + len(events) - 1
        row = db.session.get(Event, 5007)
        assert (row.repo_name, row.actor_login, row.action) == (f"o/{clean}", clean, clean.lower())
        fixed = [{**e, "repo": {"id": 9, "name": f"o/{clean}"}, "payload": {"action": clean}} if e is events[7] else e
                 for e in events]  # fmt: skip
        assert stored_rows() == expected_rows(fixed)
        assert sum(db.session.scalars(select(EventHour.count))) == len(events)
        assert store.store_events(batch).inserted == 0  # all known: the general path counts nothing twice
        assert stored_rows() == expected_rows(fixed)


def test_concurrent_overlapping_batches_store_each_event_once(app: Any) -> None:
    """Two callers storing overlapping large batches at once: each event is counted by exactly one."""
    events = sample(count=3 * store.ROUND, seed=12)
    halves = [events[: 2 * store.ROUND], events[store.ROUND :]]
    inserted: list[int] = []

    def run(part: list[dict[str, Any]]) -> None:
        with app.app_context():
            inserted.append(store.store_events(part).inserted)

    threads = [threading.Thread(target=run, args=(part,)) for part in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        assert sum(inserted) == len(events) and len(inserted) == 2
        assert stored_rows() == expected_rows(events)
        assert sum(db.session.scalars(select(EventHour.count))) == len(events)
