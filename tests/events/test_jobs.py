"""Event sources, poll jobs (embedded thread and RQ worker), the scheduler tick and retention pruning."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

import jobs
import scheduler
from events import poller, store
from events.poller import SourceSpec, job_id_for, parse_sources
from infra.extensions import db
from infra.runtime import runtime
from models import Event, EventSource
from tests.conftest import WorkerProcesses, wait_for
from tests.events.events_data import PUBLIC, recorded_events
from tests.events.test_poller import serve, source, stored_ids
from tests.repo_helpers import add_project
from tests.standin.server import GitHubStandIn


@pytest.fixture
def config(config: dict[str, str]) -> dict[str, str]:
    return {**config, "EVENT_SOURCES": "public", "EVENTS_POLL_SECONDS": "1"}


@pytest.fixture
def rq_config(config: dict[str, str], redis_url: str) -> dict[str, str]:
    return {**config, "REDIS_URL": redis_url}


def test_parse_sources_expands_and_rejects() -> None:
    entries = ["none", "public", "repos", "user", "repo:octo/alpha", "user:fan", "repo:octo/alpha", "bogus",
               "repo:octo", "repo:../etc", "user:a/b", "repo:octo/.."]  # fmt: skip
    specs, rejected = parse_sources(entries, [("octo", "alpha"), ("octo", "beta")])
    assert specs == [
        SourceSpec("public", "/events"),
        SourceSpec("repo:octo/alpha", "/repos/octo/alpha/events"),
        SourceSpec("repo:octo/beta", "/repos/octo/beta/events"),
        SourceSpec("user", ""),
        SourceSpec("user:fan", "/users/fan/events"),
    ]
    assert rejected == ["bogus", "repo:octo", "repo:../etc", "user:a/b", "repo:octo/.."]


def test_job_ids_are_safe_and_distinct() -> None:
    keys = ["public", "user", "repo:a/b-c", "repo:a-b/c", "repo:a/b.c", "user:a"]
    ids = [job_id_for(k) for k in keys]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"events-[A-Za-z0-9_-]+", i) for i in ids)


def test_user_source_polls_the_token_owners_events(make_app: Any, github: GitHubStandIn) -> None:
    app = make_app(EVENT_SOURCES="user")
    github.add_repo("alpha")
    mine = github.add_events(3, "PushEvent", "octo-owner/alpha")
    github.add_event("WatchEvent", "octo-owner/alpha", actor="fan")
    assert events_poller_poll(app, "user").inserted == 3
    assert stored_ids(app) == sorted(int(e["id"]) for e in mine)
    assert source(app, "user")["path"] == f"/users/{github.user.login}/events"


def events_poller_poll(app: Any, key: str) -> Any:
    with app.app_context():
        return poller.poll_source(key)


def test_repos_source_polls_tracked_unpaused_projects_in_the_background(make_app: Any, github: GitHubStandIn) -> None:
    app = make_app(EVENT_SOURCES="repos")
    for name in ("alpha", "beta", "gamma"):
        github.add_repo(name)
        github.add_events(2, "IssuesEvent", f"octo-owner/{name}")
    add_project(app, "octo-owner", "alpha")
    add_project(app, "octo-owner", "beta")
    add_project(app, "octo-owner", "gamma", paused=True)
    with app.app_context():
        poller.enqueue_due_sources()
    wait_for(lambda: len(stored_ids(app)) == 4, message="two repositories polled")
    with app.app_context():
        keys = set(db.session.scalars(select(EventSource.key)))
    assert keys == {"repo:octo-owner/alpha", "repo:octo-owner/beta"}
    assert {c.path for c in github.calls("/repos")} == {
        "/repos/octo-owner/alpha/events",
        "/repos/octo-owner/beta/events",
    }


def test_unknown_sources_are_not_polled(app: Any, github: GitHubStandIn) -> None:
    with app.app_context():
        assert poller.poll_source("repo:someone/else") is None
    assert github.log == []


def test_scheduler_registers_the_tick_only_with_sources(make_app: Any) -> None:
    ticks = {"scheduled_event_polls", "scheduled_event_prune"}
    for sources, expected in (("public", ticks), ("none", {"scheduled_event_prune"})):
        app = make_app(EVENT_SOURCES=sources)
        clock = BackgroundScheduler(timezone="UTC")
        scheduler.add_jobs(clock, app)
        assert {j.id for j in clock.get_jobs()} & ticks == expected


@pytest.mark.slow
def test_rq_worker_polls_and_a_second_clock_tick_is_skipped(
    rq_app: Any, rq_workers: WorkerProcesses, github: GitHubStandIn
) -> None:
    serve(github, recorded_events(PUBLIC))
    with rq_app.app_context():
        scheduler.scheduled_event_polls()
        queue = runtime().tasks.queue
        assert queue.job_ids == [job_id_for("public")]
        assert poller.enqueue_due_sources() == []  # the same source is already queued
        scheduler.scheduled_event_polls()  # another clock instance within the tick: skipped
        assert queue.count == 1
    worker = rq_workers.start("--burst")
    worker.wait(timeout=60)
    assert worker.returncode == 0, rq_workers.logs()
    assert len(stored_ids(rq_app)) == 30
    assert source(rq_app)["last_status"] == 200


def test_prune_deletes_events_past_retention(make_app: Any, github: GitHubStandIn) -> None:
    app = make_app(EVENTS_RETENTION_DAYS="30")
    now = datetime.now(UTC)
    events = [
        {"id": i, "type": "PushEvent", "created_at": (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")}
        for i, days in enumerate([1, 29, 31, 400], start=1)
    ]
    with app.app_context():
        store.store_events(events)
        assert store.prune_events(0) == 0  # 0 keeps events forever
        jobs.prune_events()
        assert sorted(db.session.scalars(select(Event.id))) == [1, 2]


def test_prune_works_in_batches(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "PRUNE_BATCH", 7)
    old = datetime(2020, 1, 1, tzinfo=UTC)
    with app.app_context():
        store.store_events(
            {"id": i, "type": "PushEvent", "created_at": (old + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")}
            for i in range(1, 31)
        )
        assert store.prune_events(90) == 30
        assert db.session.scalars(select(Event.id)).all() == []


def test_malformed_events_are_skipped_and_counted(app: Any) -> None:
    good = recorded_events(PUBLIC)[0]
    with app.app_context():
        result = store.store_events([good, {"type": "PushEvent"}, "not an object", {**good, "id": "x"}])
    assert (result.seen, result.inserted, result.malformed) == (4, 1, 3)


@pytest.mark.sqlite
def test_payload_text_with_nul_is_stored(app: Any, backend: str) -> None:
    comment = {"body": "fix\u0000ed", "path\u0000": ["a\\u0000b"]}
    event = {"id": 77, "type": "IssueCommentEvent", "created_at": "2024-01-01T00:00:00Z", "payload": comment}
    with app.app_context():
        assert store.store_events([event]).inserted == 1
        payload = db.session.get(Event, 77).payload
    # PostgreSQL cannot hold U+0000 in text: it is dropped there (the escaped text "\\u0000" is kept).
    expected = {"body": "fixed", "path": ["a\\u0000b"]} if backend == "postgresql" else comment
    assert payload == expected
