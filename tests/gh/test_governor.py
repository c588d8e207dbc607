"""Rate governors (in-process and shared through a real Redis), the database cache, and secrets."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from flask import Flask

from gh.cache import DbConditionalCache, token_fingerprint
from gh.governor import LocalGovernor, RateGovernor, RedisGovernor
from gh.rules import GitHubBadResponse, GitHubRateLimited, GitHubUnauthorized, GitHubUnavailable, RateBudget
from infra.extensions import db
from models import HttpCacheEntry
from tests.fixtures_github import MakeGateway
from tests.servers import RedisServer
from tests.standin import faults
from tests.standin.server import GitHubStandIn

pytest_plugins = ["tests.fixtures_github"]

WRONG_TOKEN = "ghp_" + "WrongTokenWrongTokenWrongTokenWrong1"


def statuses(standin: GitHubStandIn) -> list[int | None]:
    return [e.status for e in standin.log]


@pytest.fixture(scope="module")
def governor_redis() -> Iterator[RedisServer]:
    """Start a private redis-server for the governor tests."""
    server = RedisServer.start()
    yield server
    server.stop()


@pytest.fixture
def redis_clients(governor_redis: RedisServer) -> Iterator[Callable[[], redis.Redis]]:
    """Return a factory of Redis connections (one per simulated process) on a flushed database."""
    made: list[redis.Redis] = []

    def connect() -> redis.Redis:
        made.append(redis.Redis.from_url(governor_redis.url()))
        return made[-1]

    connect().flushdb()
    yield connect
    for connection in made:
        connection.close()


# -- rate governors -------------------------------------------------------------------------------


@pytest.fixture(params=["local", "redis"])
def governor_factory(
    request: pytest.FixtureRequest, redis_clients: Callable[[], redis.Redis]
) -> Callable[[int], RateGovernor]:
    if request.param == "local":
        return lambda floor: LocalGovernor(floor)
    return lambda floor: RedisGovernor(redis_clients(), floor=floor, prefix="test")


def test_governor_keeps_the_lowest_remaining_and_the_latest_pause(
    governor_factory: Callable[[int], RateGovernor],
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    governor = governor_factory(50)
    reset = now + timedelta(hours=1)
    governor.observe(RateBudget(5000, 900, reset, 4100, "core"))
    governor.observe(RateBudget(5000, 950, reset, 4050, "core"))  # an older answer arriving late
    governor.observe(RateBudget(30, 0, reset, 30, "search"))  # another resource: ignored
    assert governor.snapshot(now)["remaining"] == 900
    assert governor.paused_until(now) is None
    governor.observe(RateBudget(5000, 10, reset, 4990, "core"))
    assert governor.paused_until(now) == reset  # below the floor of 50 until the reset
    governor.pause_until(now + timedelta(hours=2), "secondary rate limit")
    governor.pause_until(now + timedelta(minutes=5), "later but shorter")
    assert governor.snapshot(now) == {
        "limit": 5000,
        "remaining": 10,
        "used": 4990,
        "reset": reset.isoformat(),
        "paused_until": (now + timedelta(hours=2)).isoformat(),
        "reason": "secondary rate limit",
    }
    governor.observe(RateBudget(5000, 4999, reset + timedelta(hours=1), 1, "core"))  # a new window
    assert governor.snapshot(now)["remaining"] == 4999


def test_redis_governor_shares_a_secondary_pause_between_clients(
    github: GitHubStandIn, make_gateway: MakeGateway, redis_clients: Callable[[], redis.Redis]
) -> None:
    github.add_repo("alpha")
    first, second = (
        make_gateway(governor=RedisGovernor(redis_clients(), floor=0, prefix="shared"), github_max_pause=1.0)
        for _ in range(2)
    )
    github.inject("/repos/*", faults.rate_limit_secondary(retry_after=30))
    with pytest.raises(GitHubRateLimited) as raised:
        first.get_repository("octo-owner", "alpha")
    with pytest.raises(GitHubRateLimited) as blocked:
        second.get_repository("octo-owner", "alpha")
    assert statuses(github) == [403]  # the second client never reached GitHub
    assert blocked.value.secondary is True
    assert raised.value.retry_at is not None and blocked.value.retry_at is not None
    assert abs((blocked.value.retry_at - raised.value.retry_at).total_seconds()) < 0.001
    snapshot = RedisGovernor(redis_clients(), prefix="shared").snapshot()
    assert snapshot["reason"] == "secondary rate limit"


def test_redis_governor_shares_the_budget_floor(
    github: GitHubStandIn, make_gateway: MakeGateway, redis_clients: Callable[[], redis.Redis]
) -> None:
    github.add_repo("alpha")
    github.set_rate(remaining=5, reset_in=60)
    first, second = (
        make_gateway(governor=RedisGovernor(redis_clients(), floor=10, prefix="floor"), github_max_pause=1.0)
        for _ in range(2)
    )
    assert first.get_repository("octo-owner", "alpha")["name"] == "alpha"
    with pytest.raises(GitHubRateLimited, match=r"budget below floor \(4 < 10\)") as raised:
        second.get_repository("octo-owner", "alpha")
    assert raised.value.retry_at == datetime.fromtimestamp(github.rate().reset, UTC)
    assert statuses(github) == [200]


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_a_spent_window_pauses_as_the_primary_rate_limit_before_its_403(
    kind: str, redis_clients: Callable[[], redis.Redis]
) -> None:
    # A concurrent request sees the budget (remaining 0) another request observed, before that
    # request records its explicit pause: the reason is the primary limit, as after the 403.
    now = datetime.now(UTC).replace(microsecond=0)  # Redis expires the budget at its reset: a real time
    reset = now + timedelta(minutes=30)
    governor = LocalGovernor(floor=50) if kind == "local" else RedisGovernor(redis_clients(), floor=50, prefix="spent")
    governor.observe(RateBudget(limit=5000, remaining=0, reset_at=reset, used=5000, resource="core"))
    assert governor.snapshot(now)["reason"] == "primary rate limit"
    assert governor.paused_until(now) == reset
    governor.observe(RateBudget(limit=5000, remaining=7, reset_at=reset + timedelta(hours=1), used=0, resource="core"))
    assert governor.snapshot(now)["reason"] == "budget below floor (7 < 50)"


# -- database cache and secrets -------------------------------------------------------------------


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[Flask]:
    """Return a minimal Flask app on a SQLite file with every table created, inside its context."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'cache.sqlite'}"
    db.init_app(app)
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


def test_db_cache_is_shared_and_uses_its_own_transaction(
    github: GitHubStandIn, make_gateway: MakeGateway, sqlite_app: Flask
) -> None:
    github.add_repo("alpha")
    github.add_repo("beta")
    first = make_gateway(cache=DbConditionalCache()).get("/repos/octo-owner/alpha")
    later = make_gateway(cache=DbConditionalCache()).get("/repos/octo-owner/alpha")  # another process
    assert (later.not_modified, later.data) == (True, first.data)
    key = f"{token_fingerprint(github.token)} {github.url('/repos/octo-owner/alpha')}"
    assert db.session.execute(db.select(HttpCacheEntry.key)).scalars().all() == [key]
    db.session.rollback()
    db.session.add(HttpCacheEntry(key="pending caller work", body={}))
    make_gateway(cache=DbConditionalCache()).get("/repos/octo-owner/beta")
    db.session.rollback()  # the caller gives up its own work: the cache write stays
    keys = db.session.execute(db.select(HttpCacheEntry.key).order_by(HttpCacheEntry.key)).scalars().all()
    assert keys == [key, key.replace("alpha", "beta")]


def test_token_reaches_no_message_log_or_cache_key(
    github: GitHubStandIn, make_gateway: MakeGateway, sqlite_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="github")  # PyGithub pins its logger to INFO on import
    github.add_repo("alpha")
    client = make_gateway(cache=DbConditionalCache())
    client.get_repository("octo-owner", "alpha")
    client.get_repository("octo-owner", "alpha")
    errors: list[BaseException] = []
    github.inject("/repos/*", faults.server_error(), times=None)
    github.inject("/user", faults.drop(), times=None)
    for call in (lambda: client.get_repository("octo-owner", "alpha"), client.authenticated_user):
        with pytest.raises(GitHubUnavailable) as raised:
            call()
        errors += [raised.value, raised.value.__cause__ or raised.value]
    with pytest.raises(GitHubBadResponse) as foreign:
        client.get(f"https://x-access-token:{github.token}@elsewhere.test/repos/x/y")
    errors.append(foreign.value)
    github.clear_faults()
    with pytest.raises(GitHubUnauthorized) as wrong:
        make_gateway(github_token=WRONG_TOKEN).authenticated_user()
    errors.append(wrong.value)
    keys = db.session.execute(db.select(HttpCacheEntry.key)).scalars().all()
    texts = [r.getMessage() for r in caplog.records] + [str(e) for e in errors] + keys
    assert any(r.name == "github.Requester" for r in caplog.records)  # PyGithub logged its requests
    assert len(keys) == 1 and len(errors) == 6
    for secret in (github.token, WRONG_TOKEN):
        assert [t for t in texts if secret in t] == []
