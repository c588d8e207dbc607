"""The GitHub gateway against the stand-in over real HTTP: conditional GETs, pagination, failures."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from gh.client import PAUSE_MARGIN, GitHubClient
from gh.rules import (
    GitHubBadResponse,
    GitHubForbidden,
    GitHubNotFound,
    GitHubRateLimited,
    GitHubUnauthorized,
    GitHubUnavailable,
    RateBudget,
)
from tests.fixtures_github import GatewaySleeps, MakeGateway
from tests.standin import faults
from tests.standin.server import GitHubStandIn

pytest_plugins = ["tests.fixtures_github"]

WRONG_TOKEN = "ghp_" + "WrongTokenWrongTokenWrongTokenWrong1"


@pytest.fixture
def gateway(make_gateway: MakeGateway) -> GitHubClient:
    """Return a client of the stand-in with the default test settings."""
    return make_gateway()


def statuses(standin: GitHubStandIn) -> list[int | None]:
    return [e.status for e in standin.log]


# -- conditional requests and pagination ----------------------------------------------------------


def test_second_get_is_a_free_304_with_the_cached_body(github: GitHubStandIn, gateway: GitHubClient) -> None:
    github.add_repo("alpha", stargazers_count=2)
    first = gateway.get("/repos/octo-owner/alpha")
    second = gateway.get("/repos/octo-owner/alpha")
    assert (first.status, first.not_modified, second.status, second.not_modified) == (200, False, 304, True)
    assert second.data == first.data
    assert second.data["stargazers_count"] == 2
    assert second.etag == first.etag == github.log[1].if_none_match
    assert github.log[1].headers["if-modified-since"] == first.headers["last-modified"]
    assert first.headers["x-ratelimit-remaining"] == second.headers["x-ratelimit-remaining"] == "4999"
    assert [(e.status, e.charged) for e in github.log] == [(200, True), (304, False)]
    github.update_repo("octo-owner/alpha", stargazers_count=3)
    third = gateway.get("/repos/octo-owner/alpha")
    assert (third.status, third.not_modified, third.data["stargazers_count"]) == (200, False, 3)


def test_paginate_follows_link_and_each_page_is_conditional(github: GitHubStandIn, gateway: GitHubClient) -> None:
    repo = github.add_repo("alpha")
    github.add_events(250, "WatchEvent", "octo-owner/alpha")
    pages = list(gateway.paginate("/repos/octo-owner/alpha/events", {"per_page": 100}))
    assert [len(p.data) for p in pages] == [100, 100, 50]
    assert pages[2].url == github.url(f"/repositories/{repo.id}/events?page=3&per_page=100")
    again = list(gateway.paginate("/repos/octo-owner/alpha/events", {"per_page": 100}))
    assert [p.not_modified for p in again] == [True, True, True]
    assert [p.data for p in again] == [p.data for p in pages]
    assert (len(github.charged_calls()), len(github.uncharged_calls())) == (3, 3)


def test_paginate_stops_at_max_items(github: GitHubStandIn, gateway: GitHubClient) -> None:
    github.add_repo("alpha")
    github.add_events(250, "WatchEvent", "octo-owner/alpha")
    pages = list(gateway.paginate("/repos/octo-owner/alpha/events", {"per_page": 100}, max_items=150))
    assert [len(p.data) for p in pages] == [100, 50]
    assert len(github.log) == 2


def test_list_owned_repositories_reports_changes(github: GitHubStandIn, gateway: GitHubClient) -> None:
    for number in range(105):
        github.add_repo(f"repo-{number:03d}")
    github.add_repo("someone/shared", member="collaborator")
    repos, changed = gateway.list_owned_repositories()
    assert (len(repos), changed, repos[0]["full_name"]) == (105, True, "octo-owner/repo-000")
    assert [e.query for e in github.log] == [
        {"per_page": ["100"], "type": ["owner"]},
        {"page": ["2"], "per_page": ["100"], "type": ["owner"]},
    ]
    assert gateway.list_owned_repositories()[1] is False
    github.update_repo("octo-owner/repo-104", description="new")
    repos, changed = gateway.list_owned_repositories()
    assert (changed, repos[-1]["description"]) == (True, "new")


def test_renamed_repository_is_followed_keeping_the_query(github: GitHubStandIn, gateway: GitHubClient) -> None:
    repo = github.add_repo("alpha")
    github.add_events(120, "WatchEvent", "octo-owner/alpha")
    github.rename_repo("octo-owner/alpha", "octo-owner/omega")
    assert gateway.get_repository("octo-owner", "alpha")["full_name"] == "octo-owner/omega"
    github.reset_log()
    pages = list(gateway.paginate("/repos/octo-owner/alpha/events", {"per_page": 100}))
    assert [len(p.data) for p in pages] == [100, 20]
    assert [(e.path, e.status, e.query) for e in github.log[:2]] == [
        ("/repos/octo-owner/alpha/events", 301, {"per_page": ["100"]}),
        (f"/repositories/{repo.id}/events", 200, {"per_page": ["100"]}),
    ]


def test_typed_helpers_return_plain_json(github: GitHubStandIn, gateway: GitHubClient) -> None:
    repo = github.add_repo("alpha", languages={"Python": 10, "C": 5})
    assert gateway.authenticated_user()["login"] == "octo-owner"
    assert gateway.get_languages("octo-owner", "alpha") == {"Python": 10, "C": 5}
    assert gateway.get_repository_by_id(repo.id)["name"] == "alpha"
    budget = gateway.budget()
    assert budget == RateBudget(5000, 4997, datetime.fromtimestamp(github.rate().reset, UTC), 3, "core")
    assert [e.charged for e in github.log] == [True, True, True, False]


def test_enterprise_base_url(make_gateway: MakeGateway) -> None:
    with GitHubStandIn.start(api_prefix="/api/v3") as enterprise:
        enterprise.add_repo("alpha")
        enterprise.add_events(150, "WatchEvent", "octo-owner/alpha")
        client = make_gateway(standin=enterprise)
        pages = list(client.paginate("/repos/octo-owner/alpha/events", {"per_page": 100}))
        assert [len(p.data) for p in pages] == [100, 50]
        assert pages[1].url.startswith(f"{enterprise.base_url}/api/v3/repositories/")
        assert enterprise.errors == []


def test_urls_outside_the_api_are_refused(github: GitHubStandIn, gateway: GitHubClient) -> None:
    with pytest.raises(GitHubBadResponse):
        gateway.get("https://elsewhere.test/repos/x/y")
    assert github.log == []


# -- failures -------------------------------------------------------------------------------------


def test_not_found_is_not_retried(github: GitHubStandIn, gateway: GitHubClient) -> None:
    with pytest.raises(GitHubNotFound) as raised:
        gateway.get_repository("octo-owner", "nope")
    assert (raised.value.status, str(raised.value)) == (
        404,
        "GitHub answered 404: Not Found (GET /repos/octo-owner/nope)",
    )
    assert statuses(github) == [404]


def test_bad_token_is_unauthorized(github: GitHubStandIn, make_gateway: MakeGateway) -> None:
    with pytest.raises(GitHubUnauthorized) as raised:
        make_gateway(github_token=WRONG_TOKEN).authenticated_user()
    assert (raised.value.status, str(raised.value)) == (401, "GitHub answered 401: Bad credentials (GET /user)")
    assert statuses(github) == [401]


def test_forbidden_is_not_retried(github: GitHubStandIn, gateway: GitHubClient) -> None:
    github.inject("/repos/*", faults.forbidden())
    with pytest.raises(GitHubForbidden) as raised:
        gateway.get_repository("octo-owner", "alpha")
    assert raised.value.status == 403
    assert statuses(github) == [403]


def test_missing_token_does_not_crash(github: GitHubStandIn, make_gateway: MakeGateway) -> None:
    github.add_repo("public")
    client = make_gateway(github_token=None)
    for call in (client.authenticated_user, client.list_owned_repositories):
        with pytest.raises(GitHubUnauthorized, match=r"^GITHUB_ACCESS_TOKEN is not set$"):
            call()
    assert github.log == []
    assert client.get_repository("octo-owner", "public")["name"] == "public"
    assert github.log[0].authorization is None
    assert client.budget().limit == 60


def test_primary_limit_pauses_until_reset(
    github: GitHubStandIn, gateway: GitHubClient, gateway_sleeps: GatewaySleeps
) -> None:
    github.add_repo("alpha")
    github.set_rate(remaining=0, reset_in=1)
    reset = github.rate().reset
    assert gateway.get_repository("octo-owner", "alpha")["name"] == "alpha"
    assert [(e.status, e.charged) for e in github.log] == [(403, False), (200, True)]
    assert len(gateway_sleeps.pauses) == 1
    assert 0 < gateway_sleeps.pauses[0] <= 2 + PAUSE_MARGIN
    assert time.time() >= reset


def test_primary_limit_beyond_max_pause_raises(github: GitHubStandIn, make_gateway: MakeGateway) -> None:
    github.add_repo("alpha")
    github.set_rate(remaining=0, reset_in=30)
    client = make_gateway(github_max_pause=1.0)
    with pytest.raises(GitHubRateLimited) as raised:
        client.get_repository("octo-owner", "alpha")
    assert raised.value.retry_at == datetime.fromtimestamp(github.rate().reset, UTC)
    assert raised.value.secondary is False
    with pytest.raises(GitHubRateLimited):  # the pause holds: no second request reaches GitHub
        client.get_repository("octo-owner", "alpha")
    assert statuses(github) == [403]


@pytest.mark.parametrize("fault", [faults.rate_limit_secondary(retry_after=1), faults.too_many_requests(retry_after=1)])
def test_secondary_limit_waits_retry_after(
    github: GitHubStandIn, gateway: GitHubClient, gateway_sleeps: GatewaySleeps, fault: faults.Fault
) -> None:
    github.add_repo("alpha")
    github.inject("/repos/*", fault)
    assert gateway.get_repository("octo-owner", "alpha")["name"] == "alpha"
    assert statuses(github) == [fault.status, 200]
    assert len(gateway_sleeps.pauses) == 1
    assert 1.0 - 0.2 < gateway_sleeps.pauses[0] <= 1.0 + PAUSE_MARGIN


def test_secondary_limit_beyond_max_pause_raises(github: GitHubStandIn, gateway: GitHubClient) -> None:
    github.inject("/repos/*", faults.rate_limit_secondary(retry_after=60))
    started = datetime.now(UTC)
    with pytest.raises(GitHubRateLimited) as raised:
        gateway.get_repository("octo-owner", "alpha")
    assert raised.value.secondary is True
    assert raised.value.retry_at is not None
    assert timedelta(seconds=59) < raised.value.retry_at - started < timedelta(seconds=62)
    assert statuses(github) == [403]


def test_server_error_then_success(github: GitHubStandIn, gateway: GitHubClient, gateway_sleeps: GatewaySleeps) -> None:
    github.add_repo("alpha")
    github.inject("/repos/*", faults.server_error(500))
    assert gateway.get_repository("octo-owner", "alpha")["name"] == "alpha"
    assert statuses(github) == [500, 200]
    assert len(gateway_sleeps.calls) == 1 and 0 <= gateway_sleeps.calls[0] <= 0.01


@pytest.mark.parametrize("code", [500, 502])
def test_persistent_server_error_is_unavailable_after_all_attempts(
    github: GitHubStandIn, gateway: GitHubClient, gateway_sleeps: GatewaySleeps, code: int
) -> None:
    github.inject("/repos/*", faults.server_error(code), times=None)
    with pytest.raises(GitHubUnavailable) as raised:
        gateway.get_repository("octo-owner", "alpha")
    assert raised.value.status == code
    assert statuses(github) == [code, code, code]  # github_max_retries=2 -> 3 attempts
    assert len(gateway_sleeps.calls) == 2 and all(0 <= s <= 0.02 for s in gateway_sleeps.calls)


@pytest.mark.parametrize(("fault", "logged"), [(faults.delay(1.5), 200), (faults.drop(), None)])
def test_timeouts_and_drops_are_retried(
    github: GitHubStandIn, gateway: GitHubClient, fault: faults.Fault, logged: int | None
) -> None:
    github.add_repo("alpha")
    github.inject("/repos/*", fault)
    assert gateway.get_repository("octo-owner", "alpha")["name"] == "alpha"
    assert [(e.status, e.fault) for e in github.log] == [(logged, fault.name), (200, None)]


@pytest.mark.parametrize(("fault", "error"), [(faults.delay(1.0), "ReadTimeout"), (faults.drop(), "ConnectionError")])
def test_persistent_timeouts_and_drops_are_unavailable(
    github: GitHubStandIn, gateway: GitHubClient, fault: faults.Fault, error: str
) -> None:
    github.add_repo("alpha")
    github.inject("/repos/*", fault, times=None)
    with pytest.raises(GitHubUnavailable, match=error):
        gateway.get_repository("octo-owner", "alpha")
    assert len(github.log) == 3


def test_malformed_json_is_a_bad_response(github: GitHubStandIn, gateway: GitHubClient) -> None:
    github.add_repo("alpha")
    github.inject("/repos/*", faults.malformed_json())
    with pytest.raises(GitHubBadResponse, match="malformed JSON"):
        gateway.get_repository("octo-owner", "alpha")
    assert statuses(github) == [200]
