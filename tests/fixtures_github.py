"""Pytest fixtures for the GitHub stand-in (load with `pytest_plugins = ["tests.fixtures_github"]`).

- `github`: a started `GitHubStandIn` (user `octo-owner`, id 1001, token `DEFAULT_TOKEN`), stopped
  after the test, which fails if the stand-in hit an internal error while answering.
- `github_recordings`: `github_recordings("repo_get.pygithub.2026.json")` returns a copy of a
  recording from tests/standin/recordings/ (origin, covers, notes, exchanges).
- `make_gateway`: a factory of `gh.client.GitHubClient`s of the `github` stand-in with small timeouts
  and backoff (`gateway_settings`); `gateway_sleeps` records the pauses they took.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gh.cache import MemoryConditionalCache
from gh.client import GitHubClient
from gh.governor import LocalGovernor
from settings import Settings
from tests.standin.model import DEFAULT_LOGIN, DEFAULT_TOKEN, DEFAULT_USER_ID
from tests.standin.server import GitHubStandIn
from tests.standin.shapes import load_recording


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    """Serve a fresh GitHub stand-in on 127.0.0.1 for one test."""
    standin = GitHubStandIn.start(login=DEFAULT_LOGIN, user_id=DEFAULT_USER_ID, token=DEFAULT_TOKEN)
    try:
        yield standin
    finally:
        standin.stop()
    assert standin.errors == [], "the GitHub stand-in failed while answering:\n" + "\n".join(standin.errors)


@pytest.fixture(scope="session")
def github_recordings() -> Callable[[str], dict[str, Any]]:
    """Return a loader of the recorded GitHub exchanges copied into tests/standin/recordings/."""
    return load_recording


class GatewaySleeps:
    """Record every sleep a GitHubClient asks for, and really sleep (the stand-in runs on real time)."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(seconds)

    @property
    def pauses(self) -> list[float]:
        """Return the non-zero sleeps (tenacity sleeps 0 s before a rate-limit retry)."""
        return [s for s in self.calls if s > 0]


MakeGateway = Callable[..., GitHubClient]


def gateway_settings(standin: GitHubStandIn, **overrides: Any) -> Settings:
    """Return settings pointing at the stand-in with small timeouts and backoff (tests run in seconds)."""
    values: dict[str, Any] = {
        "github_token": standin.token,
        "github_api_url": standin.api_url,
        "github_connect_timeout": 2.0,
        "github_read_timeout": 0.3,
        "github_max_retries": 2,
        "github_backoff_base": 0.01,
        "github_backoff_max": 0.02,
        "github_rate_floor": 0,
        "github_max_pause": 5.0,
    }
    return Settings.from_mapping({}).with_overrides(**{**values, **overrides})


@pytest.fixture
def gateway_sleeps() -> GatewaySleeps:
    """Return the sleep recorder `make_gateway` clients use."""
    return GatewaySleeps()


@pytest.fixture
def make_gateway(github: GitHubStandIn, gateway_sleeps: GatewaySleeps) -> Iterator[MakeGateway]:
    """Return a factory of GitHubClients of the stand-in (settings overridable), closed after the test.

    `make_gateway(github_max_pause=1.0, cache=DbConditionalCache(), governor=RedisGovernor(...))`;
    `standin=` points a client at another stand-in.
    """
    clients: list[GitHubClient] = []

    def make(
        *, standin: GitHubStandIn | None = None, cache: Any = None, governor: Any = None, **overrides: Any
    ) -> GitHubClient:
        settings = gateway_settings(standin or github, **overrides)
        client = GitHubClient(
            settings,
            cache=cache if cache is not None else MemoryConditionalCache(),
            governor=governor if governor is not None else LocalGovernor(settings.github_rate_floor),
            sleep=gateway_sleeps,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
