"""The events poller against the GitHub stand-in serving the recorded event pages."""

from __future__ import annotations

import copy
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from events import poller
from infra.extensions import db
from models import Event, EventSource, utcnow
from tests.events.events_data import PUBLIC, REPO, REPO_ID, REPO_NAME, recorded_events
from tests.standin import faults
from tests.standin.server import GitHubStandIn

RECORDED = recorded_events()  # 30 public events (2020) + 100 of sigmavirus24/github3.py (2018)


@pytest.fixture
def config(config: dict[str, str]) -> dict[str, str]:
    return {**config, "EVENT_SOURCES": "public", "EVENTS_POLL_SECONDS": "1"}


def serve(github: GitHubStandIn, events: list[dict[str, Any]]) -> None:
    """Put recorded events in the stand-in's feeds (newest first, as GitHub orders them)."""
    with github.lock:
        if not github.find_repo(*REPO_NAME.split("/")):
            github.add_repo(REPO_NAME, id=REPO_ID)
        github.events.extend(copy.deepcopy(events))
        github.events.sort(key=lambda e: (e["created_at"], int(e["id"])), reverse=True)


def poll(app: Any, key: str = "public") -> poller.WalkResult | None:
    with app.app_context():
        return poller.poll_source(key)


def source(app: Any, key: str = "public") -> dict[str, Any]:
    with app.app_context():
        row = db.session.get(EventSource, key)
        assert row is not None
        return {c.name: getattr(row, c.name) for c in EventSource.__table__.columns}


def make_due(app: Any, key: str = "public") -> None:
    """Pretend the poll interval has passed."""
    with app.app_context():
        db.session.execute(update(EventSource).where(EventSource.key == key).values(next_poll_at=utcnow()))
        db.session.commit()


def stored_ids(app: Any) -> list[int]:
    with app.app_context():
        return sorted(db.session.scalars(select(Event.id)))


def pages_asked(github: GitHubStandIn, prefix: str = "/events") -> list[str]:
    return [c.query.get("page", ["1"])[0] for c in github.calls(prefix)]


def ids_of(events: list[dict[str, Any]]) -> list[int]:
    return sorted(int(e["id"]) for e in events)


def test_walks_three_pages_and_stores_every_recorded_event(
    app: Any, github: GitHubStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(poller, "PER_PAGE", 50)  # 130 recorded events: pages of 50, 50, 30
    serve(github, RECORDED)
    result = poll(app)
    assert result is not None and (result.pages, result.seen, result.inserted) == (3, 130, 130)
    assert pages_asked(github) == ["1", "2", "3"]
    assert all(c.query["per_page"] == ["50"] for c in github.calls("/events"))
    assert stored_ids(app) == ids_of(RECORDED)
    state = source(app)
    assert (state["last_status"], state["last_error"], state["events_stored"]) == (200, None, 130)
    assert state["etag"] and state["etag"].startswith('W/"')
    assert state["newest_event_id"] == max(ids_of(RECORDED))


def test_repository_feed_follows_link_to_repositories_id(make_app: Any, github: GitHubStandIn) -> None:
    app = make_app(EVENT_SOURCES=f"repo:{REPO_NAME}")
    serve(github, recorded_events(REPO) + recorded_events(REPO))  # duplicates in the feed are stored once
    result = poll(app, f"repo:{REPO_NAME}")
    assert result is not None and result.inserted == 100
    assert [c.path for c in github.log] == [f"/repos/{REPO_NAME}/events", f"/repositories/{REPO_ID}/events"]
    assert stored_ids(app) == ids_of(recorded_events(REPO))


def test_unchanged_feed_is_a_free_304_and_adds_nothing(app: Any, github: GitHubStandIn) -> None:
    serve(github, recorded_events(PUBLIC))
    poll(app)
    etag = source(app)["etag"]
    make_due(app)
    github.reset_log()
    result = poll(app)
    assert result is not None and (result.status, result.inserted) == (304, 0)
    [request] = github.log
    assert (request.path, request.status, request.if_none_match) == ("/events", 304, etag)
    assert github.charged_calls() == []
    assert source(app)["last_status"] == 304
    assert stored_ids(app) == ids_of(recorded_events(PUBLIC))


@pytest.mark.parametrize(("x_poll_interval", "poll_seconds", "wait"), [(120, "1", 120), (60, "300", 300)])
def test_waits_at_least_x_poll_interval(
    make_app: Any, github: GitHubStandIn, x_poll_interval: int, poll_seconds: str, wait: int
) -> None:
    app = make_app(EVENTS_POLL_SECONDS=poll_seconds)
    github.poll_interval = x_poll_interval
    serve(github, recorded_events(PUBLIC))
    poll(app)
    state = source(app)
    assert state["poll_interval"] == x_poll_interval
    assert state["next_poll_at"] - state["last_polled_at"] == timedelta(seconds=wait)
    github.reset_log()
    assert poll(app) is None  # not due: no request at all
    with app.app_context():
        assert poller.enqueue_due_sources() == []
    assert github.log == []


def test_overlapping_polls_store_each_event_once(
    app: Any, github: GitHubStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(poller, "PER_PAGE", 50)
    serve(github, RECORDED)
    poll(app)
    newer = github.add_events(20, "WatchEvent", REPO_NAME)  # page 1 becomes 20 new + 30 already stored
    make_due(app)
    github.reset_log()
    result = poll(app)
    assert result is not None and (result.pages, result.seen, result.inserted) == (2, 100, 20)
    assert pages_asked(github) == ["1", "2"]  # page 2 held only stored events: page 3 is not asked
    assert stored_ids(app) == sorted(ids_of(RECORDED) + ids_of(newer))
    assert source(app)["events_stored"] == 150


def test_public_and_repository_feeds_overlap_without_duplicates(make_app: Any, github: GitHubStandIn) -> None:
    app = make_app(EVENT_SOURCES=f"public,repo:{REPO_NAME}")
    serve(github, RECORDED)
    assert poll(app, "public").inserted == 130
    assert poll(app, f"repo:{REPO_NAME}").inserted == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Event)) == 130


def test_stops_at_the_300_event_window(app: Any, github: GitHubStandIn) -> None:
    serve(github, RECORDED)
    github.add_events(250, "PushEvent", REPO_NAME)
    with github.lock:
        feed = [int(e["id"]) for e in github.events if e["public"]][:300]
    result = poll(app)
    assert result is not None and (result.pages, result.inserted) == (3, 300)
    assert pages_asked(github) == ["1", "2", "3"]
    assert stored_ids(app) == sorted(feed)


@pytest.mark.parametrize(
    ("fault", "status", "message"),
    [
        (faults.server_error(502), 502, "502"),
        (faults.drop(), None, "ConnectionError"),
        (faults.malformed_json(), 200, "malformed"),
    ],
    ids=["5xx", "connection drop", "malformed page"],
)
def test_failures_are_recorded_and_retried_later(
    app: Any, github: GitHubStandIn, monkeypatch: pytest.MonkeyPatch, fault: Any, status: int | None, message: str
) -> None:
    monkeypatch.setattr(poller, "PER_PAGE", 50)
    serve(github, RECORDED)
    github.inject("/events", fault, times=None)
    assert poll(app) is None
    state = source(app)
    assert message in state["last_error"] and state["last_status"] in (status, None)
    assert state["next_poll_at"] - state["last_polled_at"] == timedelta(seconds=60)
    assert stored_ids(app) == []
    github.clear_faults()
    make_due(app)
    assert poll(app).inserted == 130
    assert (source(app)["last_status"], source(app)["last_error"]) == (200, None)


def test_a_failed_page_2_is_fetched_by_the_next_poll(
    app: Any, github: GitHubStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(poller, "PER_PAGE", 50)
    serve(github, RECORDED)
    requests = iter(range(1, 100))
    queued = github.take_fault
    monkeypatch.setattr(  # the second request of the first poll (page 2) gets a truncated body
        github,
        "take_fault",
        lambda method, path: faults.malformed_json() if next(requests) == 2 else queued(method, path),
    )
    assert poll(app) is None
    assert stored_ids(app) == ids_of(RECORDED[:50])
    assert "malformed" in source(app)["last_error"]
    make_due(app)
    github.reset_log()
    result = poll(app)
    assert result is not None and (result.status, result.inserted) == (304, 80)
    assert pages_asked(github) == ["1", "2", "3"]  # page 1 was an unchanged 304, yet the walk went on
    assert stored_ids(app) == ids_of(RECORDED)


def test_sleeps_on_a_secondary_rate_limit_then_polls(app: Any, github: GitHubStandIn) -> None:
    serve(github, recorded_events(PUBLIC))
    github.inject("/events", faults.rate_limit_secondary(retry_after=1))
    started = time.monotonic()
    result = poll(app)
    assert time.monotonic() - started >= 1.0
    assert result is not None and result.inserted == 30
    assert [c.status for c in github.calls("/events")] == [403, 200]


def test_sleeps_until_the_rate_limit_reset_then_polls(app: Any, github: GitHubStandIn) -> None:
    serve(github, recorded_events(PUBLIC))
    github.inject("/events", faults.rate_limit_primary(reset_in=1.0))
    reset = time.time() + 1.0
    result = poll(app)
    assert time.time() >= int(reset)
    assert result is not None and result.inserted == 30
    assert [c.status for c in github.calls("/events")] == [403, 200]


def test_a_long_rate_limit_reschedules_the_source_instead_of_hammering(app: Any, github: GitHubStandIn) -> None:
    serve(github, recorded_events(PUBLIC))
    github.inject("/events", faults.rate_limit_primary(reset_in=120))
    reset = utcnow() + timedelta(seconds=120)
    assert poll(app) is None
    state = source(app)
    assert "rate limit" in state["last_error"]
    assert state["next_poll_at"] >= reset.replace(microsecond=0)
    assert len(github.calls("/events")) == 1
    assert stored_ids(app) == []


def test_the_stored_error_never_holds_the_token(app: Any, github: GitHubStandIn) -> None:
    github.inject("/events", faults.status(500, {"message": f"token {github.token} rejected"}), times=None)
    poll(app)
    assert github.token not in source(app)["last_error"]
    assert "500" in source(app)["last_error"]


def test_two_pollers_never_poll_one_source_at_once(app: Any, github: GitHubStandIn) -> None:
    serve(github, recorded_events(PUBLIC))
    github.inject("/events", faults.delay(0.5), times=None)
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def run() -> None:
        barrier.wait()
        results.append(poll(app))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(r is None for r in results) == [False, True]
    assert len(github.calls("/events")) == 1
    assert len(stored_ids(app)) == 30
