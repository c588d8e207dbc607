"""Pure GitHub HTTP rules, checked on recorded GitHub answers and hand-made edge cases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from gh.rules import (
    GitHubBadResponse,
    GitHubError,
    GitHubForbidden,
    GitHubNotFound,
    GitHubRateLimited,
    GitHubUnauthorized,
    GitHubUnavailable,
    RateBudget,
    classify,
    is_secondary_rate_limit,
    parse_link,
    parse_rate_limit,
    retry_delay,
)

pytest_plugins = ["tests.fixtures_github"]

Loader = Callable[[str], dict[str, Any]]
API = "https://api.github.com"
NOW = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def recorded(loader: Loader, name: str, index: int = 0) -> dict[str, Any]:
    """Return one recorded response (status, headers as pairs, body)."""
    return loader(name)["exchanges"][index]["response"]


def header(response: dict[str, Any], name: str) -> str:
    return next(v for n, v in response["headers"] if n.lower() == name.lower())


@pytest.mark.parametrize(
    ("name", "index", "expected"),
    [
        (
            "commits_page.pygithub.2026.json",
            0,
            {
                "next": f"{API}/repositories/3544490/commits?sha=release-v2-0&per_page=2&page=2",
                "last": f"{API}/repositories/3544490/commits?sha=release-v2-0&per_page=2&page=1044",
            },
        ),
        (
            "events_repo.github3py.2018.json",
            0,
            {
                "next": f"{API}/repositories/3710711/events?per_page=100&page=2",
                "last": f"{API}/repositories/3710711/events?per_page=100&page=3",
            },
        ),
        (
            "pagination_issues_5pages.octokit-fixtures.2022.json",
            2,
            {
                "prev": f"{API}/repositories/515435940/issues?per_page=3&page=2",
                "next": f"{API}/repositories/515435940/issues?per_page=3&page=4",
                "last": f"{API}/repositories/515435940/issues?per_page=3&page=5",
                "first": f"{API}/repositories/515435940/issues?per_page=3&page=1",
            },
        ),
        (
            "pagination_issues_5pages.octokit-fixtures.2022.json",
            4,
            {
                "prev": f"{API}/repositories/515435940/issues?per_page=3&page=4",
                "first": f"{API}/repositories/515435940/issues?per_page=3&page=1",
            },
        ),
    ],
)
def test_parse_link_reads_recorded_headers(
    github_recordings: Loader, name: str, index: int, expected: dict[str, str]
) -> None:
    assert parse_link(header(recorded(github_recordings, name, index), "Link")) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, {}),
        ("", {}),
        ("garbage, more garbage", {}),
        ("<https://a.test/x?page=2>", {}),
        ("<https://a.test/x?page=2>;rel=next ,  <https://a.test/x?page=5> ; rel = \"last\"", {
            "next": "https://a.test/x?page=2", "last": "https://a.test/x?page=5"}),
        ('<https://a.test/1>; rel="prev next"', {"prev": "https://a.test/1", "next": "https://a.test/1"}),
        ('<https://a.test/1>; title="x, y"; REL="Next"', {"next": "https://a.test/1"}),
        ('<https://a.test/1?a=1,2>; rel="next"', {"next": "https://a.test/1?a=1,2"}),
    ],
)  # fmt: skip
def test_parse_link_tolerates_odd_spacing_and_quoting(value: str | None, expected: dict[str, str]) -> None:
    assert parse_link(value) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("repo_get.pygithub.2026.json", RateBudget(5000, 4867, datetime.fromtimestamp(1767880692, UTC), 133, "core")),
        (
            "rate_limit_get.pygithub.2023.json",
            RateBudget(5000, 4904, datetime.fromtimestamp(1684195041, UTC), 96, "core"),
        ),
        ("events_public.pygithub.2020.json", RateBudget(60, 58, datetime.fromtimestamp(1587820042, UTC), 2, None)),
        ("languages.octokit-rb.2013.json", RateBudget(60, 51, None, 9, None)),
        ("ratelimit_403_secondary.pygithub.2018.json", None),
    ],
)
def test_parse_rate_limit_reads_recorded_headers(
    github_recordings: Loader, name: str, expected: RateBudget | None
) -> None:
    assert parse_rate_limit(recorded(github_recordings, name)["headers"]) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"X-RateLimit-Limit": "5000"}, None),
        ({"x-ratelimit-limit": "5000.0", "X-RATELIMIT-REMAINING": "4999.0"}, RateBudget(5000, 4999, None, 1, None)),
        ({"x-ratelimit-limit": "nope", "x-ratelimit-remaining": "1"}, None),
    ],
)
def test_parse_rate_limit_is_case_insensitive_and_lenient(headers: dict[str, str], expected: RateBudget | None) -> None:
    assert parse_rate_limit(headers) == expected


def _case(loader: Loader, name: str, index: int = 0) -> tuple[int, list[list[str]], Any]:
    response = recorded(loader, name, index)
    return response["status"], response["headers"], response["body"]


@pytest.mark.parametrize(
    ("source", "now", "expected"),
    [
        # the recorded secondary limit carries Retry-After: 60
        (("ratelimit_403_secondary.pygithub.2018.json", 0), NOW, 60.0),
        # the docs' primary example: remaining 0, reset 1377013266 -> wait until then
        (("ratelimit_403.docs-example.json", 0), datetime.fromtimestamp(1377013266 - 42, UTC), 42.0),
        # a reset already past: retry now
        (("ratelimit_403.docs-example.json", 0), datetime.fromtimestamp(1377013266 + 5, UTC), 0.0),
        # the docs' secondary example has no header at all: at least one minute
        (("ratelimit_403.docs-example.json", 1), NOW, 60.0),
        # 2013 primary: remaining 0 but no reset recorded: fall back to one minute
        (("ratelimit_403_primary.pygithub.2013.json", 0), NOW, 60.0),
        # a 5xx and a 200 are no rate limits
        (("server_error_500_then_200.pygithub.2018.json", 0), NOW, None),
        (("repo_get.pygithub.2026.json", 0), NOW, None),
    ],
)
def test_retry_delay_on_recorded_answers(
    github_recordings: Loader, source: tuple[str, int], now: datetime, expected: float | None
) -> None:
    status, headers, body = _case(github_recordings, *source)
    assert retry_delay(status, headers, body, now) == expected


FORBIDDEN_BODY = {"message": "Resource not accessible by personal access token"}
RATE_OK = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4000", "x-ratelimit-reset": "1704110400"}


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (429, {"Retry-After": "7"}, None, 7.0),
        (429, {"retry-after": format_datetime(NOW + timedelta(seconds=30), usegmt=True)}, None, 30.0),
        (429, {}, None, 60.0),
        (403, {**RATE_OK, "Retry-After": "3"}, {"message": "whatever"}, 3.0),
        (403, RATE_OK, {"message": "You have exceeded a secondary rate limit."}, 60.0),
        (403, {}, {"message": "API rate limit exceeded for user ID 1."}, 60.0),
        (403, RATE_OK, FORBIDDEN_BODY, None),
        (404, {"Retry-After": "3"}, None, None),
        (500, {"Retry-After": "3"}, None, None),
    ],
)
def test_retry_delay_edge_cases(status: int, headers: dict[str, str], body: Any, expected: float | None) -> None:
    assert retry_delay(status, headers, body, NOW) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (("ratelimit_403_secondary.pygithub.2018.json", 0), True),
        (("ratelimit_403.docs-example.json", 1), True),
        (("ratelimit_403.docs-example.json", 0), False),
        (("ratelimit_403_primary.pygithub.2013.json", 0), False),
        (("server_error_500_then_200.pygithub.2018.json", 0), False),
    ],
)
def test_is_secondary_rate_limit_on_recorded_answers(
    github_recordings: Loader, source: tuple[str, int], expected: bool
) -> None:
    assert is_secondary_rate_limit(*_case(github_recordings, *source)) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (("repo_get.pygithub.2026.json", 0), None),
        (("conditional_304.pygithub.2013.json", 1), None),
        (("repo_renamed_301.octokit-fixtures.2022.json", 0), GitHubError),
        (("ratelimit_403_secondary.pygithub.2018.json", 0), GitHubRateLimited),
        (("ratelimit_403.docs-example.json", 0), GitHubRateLimited),
        (("ratelimit_403_primary.pygithub.2013.json", 0), GitHubRateLimited),
        (("server_error_500_then_200.pygithub.2018.json", 0), GitHubUnavailable),
    ],
)
def test_classify_recorded_answers(
    github_recordings: Loader, source: tuple[str, int], expected: type[GitHubError] | None
) -> None:
    assert classify(*_case(github_recordings, *source)) is expected


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (201, {}, None, None),
        (401, {}, {"message": "Bad credentials"}, GitHubUnauthorized),
        (404, {}, {"message": "Not Found"}, GitHubNotFound),
        (403, RATE_OK, FORBIDDEN_BODY, GitHubForbidden),
        (429, {}, None, GitHubRateLimited),
        (502, {}, None, GitHubUnavailable),
        (422, {}, {"message": "Validation Failed"}, GitHubError),
    ],
)
def test_classify_statuses(status: int, headers: dict[str, str], body: Any, expected: type[GitHubError] | None) -> None:
    assert classify(status, headers, body) is expected


def test_errors_never_carry_a_token() -> None:
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    error = GitHubBadResponse(f"cannot read https://x-access-token:{token}@github.com/o/r.git ({token})")
    assert token not in str(error)
    assert str(error) == "cannot read https://***@github.com/o/r.git (***)"
    limited = GitHubRateLimited("limited", 403, NOW, secondary=True)
    assert (limited.status, limited.retry_at, limited.secondary) == (403, NOW, True)
