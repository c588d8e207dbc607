"""POST /api/repos when GitHub fails: rate limits, errors, timeouts, refused credentials, 409s and the race."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from models import Project
from tests.repo_helpers import ADMIN, count, post, remote
from tests.standin import faults
from tests.standin.server import GitHubStandIn

OWNER_CHARS = "Only ASCII letters, digits and single hyphens, not at the start or end (GitHub's rule)"
NAME_CHARS = "Only ASCII letters, digits, '.', '-' and '_' (GitHub's rule)"
OWNER_LONG = "At most 39 characters (GitHub's limit for account names)"
NAME_LONG = "At most 100 characters (GitHub's limit for repository names)"
ONE_REPO = "The URL must name exactly one repository: <host>/<owner>/<repository>"
UNAVAILABLE = "GitHub failed or did not answer in time: "
CREDENTIALS = "GitHub refused the server's credentials (GITHUB_ACCESS_TOKEN): "


@pytest.fixture
def config(config: dict[str, str]) -> dict[str, str]:
    return {**config, "ADMIN_TOKEN": ADMIN}


def test_rate_limited_primary_is_503_with_retry_after(client: Any, app: Any, github: GitHubStandIn) -> None:
    remote(github, "tracker")
    github.set_rate(remaining=0, reset_in=30)
    response = post(client, {"owner": "octo-owner", "repo_name": "tracker"})
    assert response.status_code == 503
    wait = int(response.headers["Retry-After"])
    assert 29 <= wait <= 32
    assert response.get_json() == {
        "error": f"GitHub's rate limit is exhausted: try again in {wait} s",
        "code": "github_rate_limited",
        "details": [],
    }
    # While paused, no call reaches GitHub: the next attempt is answered at once.
    calls = len(github.calls("/repos"))
    assert post(client, {"owner": "octo-owner", "repo_name": "tracker"}).status_code == 503
    assert len(github.calls("/repos")) == calls
    assert count(app, Project) == 0


@pytest.mark.parametrize(
    ("fault", "wait"),
    [(faults.rate_limit_secondary(retry_after=120), 120), (faults.too_many_requests(retry_after=42), 42)],
    ids=["403-secondary", "429"],
)
def test_secondary_rate_limit_is_503_with_its_retry_after(
    client: Any, github: GitHubStandIn, fault: Any, wait: int
) -> None:
    remote(github, "tracker")
    github.inject("/repos/octo-owner/tracker", fault)
    response = post(client, {"owner": "octo-owner", "repo_name": "tracker"})
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) in (wait - 1, wait)
    assert response.get_json()["code"] == "github_rate_limited"


@pytest.mark.parametrize(
    ("fault", "code", "message", "calls"),
    [
        (faults.server_error(500), "github_unavailable", UNAVAILABLE + "GitHub answered 500", 2),
        (faults.server_error(502), "github_unavailable", UNAVAILABLE + "GitHub answered 502", 2),
        (faults.drop(), "github_unavailable", UNAVAILABLE + "GET /repos/octo-owner/tracker", 2),
        (faults.malformed_json(), "github_unavailable", UNAVAILABLE + "GET /repos/octo-owner/tracker", 1),
        (faults.unauthorized(), "github_credentials", CREDENTIALS + "GitHub answered 401", 1),
        (faults.forbidden(), "github_credentials", CREDENTIALS + "GitHub answered 403", 1),
    ],
    ids=["500", "502", "drop", "malformed", "401", "403"],
)  # fmt: skip
def test_github_failures_are_502(
    client: Any,
    app: Any,
    github: GitHubStandIn,
    caplog: pytest.LogCaptureFixture,
    fault: Any,
    code: str,
    message: str,
    calls: int,
) -> None:
    caplog.set_level(logging.DEBUG)
    remote(github, "tracker")
    github.inject("/repos/octo-owner/tracker", fault, times=None)
    response = post(client, {"owner": "octo-owner", "repo_name": "tracker"})
    assert response.status_code == 502
    body = response.get_json()
    assert body["code"] == code
    assert body["error"].startswith(message)
    assert github.token not in response.get_data(as_text=True)
    assert len(github.calls("/repos/octo-owner/tracker")) == calls  # 5xx and network errors: one quick retry
    assert count(app, Project) == 0
    assert caplog.records, "the failure is logged"
    assert github.token not in caplog.text and ADMIN not in caplog.text


def test_github_unreachable_is_502(config: dict[str, str]) -> None:
    from tests.conftest import build_app, dispose_app
    from tests.servers import free_port

    app = build_app({**config, "GITHUB_API_URL": f"http://127.0.0.1:{free_port()}"})
    try:
        response = post(app.test_client(), {"owner": "octo-owner", "repo_name": "tracker"})
        assert response.status_code == 502
        assert response.get_json()["code"] == "github_unavailable"
        assert "ConnectionError" in response.get_json()["error"]
    finally:
        dispose_app(app)


@pytest.fixture
def slow_config(config: dict[str, str]) -> dict[str, str]:
    return {**config, "GITHUB_READ_TIMEOUT": "0.3"}


def test_github_timeout_is_502(slow_config: dict[str, str], github: GitHubStandIn) -> None:
    from tests.conftest import build_app, dispose_app

    app = build_app(slow_config)
    try:
        remote(github, "tracker")
        github.inject("/repos/octo-owner/tracker", faults.delay(1.5), times=None)
        response = post(app.test_client(), {"owner": "octo-owner", "repo_name": "tracker"})
        assert response.status_code == 502
        assert response.get_json()["code"] == "github_unavailable"
        assert "Timeout" in response.get_json()["error"]
        assert len(github.calls("/repos/octo-owner/tracker")) == 2  # one quick retry, then the answer
    finally:
        dispose_app(app)


def test_server_token_rejected_is_502_not_401(config: dict[str, str], github: GitHubStandIn) -> None:
    from tests.conftest import build_app, dispose_app

    app = build_app({**config, "GITHUB_ACCESS_TOKEN": "ghp_" + "WrongServerToken0123456789abcdefghijk"})
    try:
        remote(github, "tracker")
        response = post(app.test_client(), {"owner": "octo-owner", "repo_name": "tracker"})
        assert response.status_code == 502
        assert response.get_json()["error"] == (
            "GitHub refused the server's credentials (GITHUB_ACCESS_TOKEN): "
            "GitHub answered 401: Bad credentials (GET /repos/octo-owner/tracker)"
        )
        assert "WrongServerToken" not in response.get_data(as_text=True)
    finally:
        dispose_app(app)


@pytest.mark.sqlite
def test_already_tracked_is_409_with_the_existing_id(client: Any, github: GitHubStandIn) -> None:
    remote(github, "tracker")
    first = post(client, {"owner": "octo-owner", "repo_name": "tracker"}).get_json()
    calls = len(github.calls("/repos/octo-owner/tracker"))
    for body in ({"owner": "octo-owner", "repo_name": "tracker"}, {"owner": "OCTO-OWNER", "repo_name": "Tracker"},
                 {"url": f"{github.base_url}/octo-owner/tracker.git"}):  # fmt: skip
        again = post(client, body)
        assert again.status_code == 409
        assert again.get_json() == {
            "error": f"octo-owner/tracker is already tracked (id {first['id']})",
            "code": "already_tracked",
            "details": [],
            "id": first["id"],
            "full_name": "octo-owner/tracker",
        }
    assert len(github.calls("/repos/octo-owner/tracker")) == calls  # answered from the database


def test_concurrent_adds_of_one_repository_make_one_row(app: Any, github: GitHubStandIn) -> None:
    remote(github, "tracker")
    # Both requests are inside the GitHub call at once, so both pass the "already tracked?" check.
    github.inject("/repos/octo-owner/tracker", faults.delay(0.5), times=2)
    barrier = threading.Barrier(2)
    answers: list[Any] = []

    def add() -> None:
        client = app.test_client()
        barrier.wait()
        answers.append(post(client, {"owner": "octo-owner", "repo_name": "tracker"}))

    threads = [threading.Thread(target=add) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(a.status_code for a in answers) == [201, 409]
    created = next(a for a in answers if a.status_code == 201).get_json()
    conflict = next(a for a in answers if a.status_code == 409).get_json()
    assert conflict["id"] == created["id"]
    assert len(github.calls("/repos/octo-owner/tracker")) == 2
    assert count(app, Project) == 1


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A loopback port whose accept queue is full: a connection attempt hangs until it times out."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for sock in [*fillers, server]:
        sock.close()


def test_github_connect_timeout_is_502(config: dict[str, str], unanswered_port: int) -> None:
    from tests.conftest import build_app, dispose_app

    app = build_app(
        {**config, "GITHUB_API_URL": f"http://127.0.0.1:{unanswered_port}", "GITHUB_CONNECT_TIMEOUT": "0.5"}
    )
    try:
        started = time.monotonic()
        response = post(app.test_client(), {"owner": "octo-owner", "repo_name": "tracker"})
        elapsed = time.monotonic() - started
        assert response.status_code == 502
        assert response.get_json()["code"] == "github_unavailable"
        assert "ConnectTimeout" in response.get_json()["error"]
        assert elapsed < 5  # two attempts of 0.5 s, not the 5 s default nor a hang
    finally:
        dispose_app(app)
