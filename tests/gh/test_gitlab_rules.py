"""The pure parts of gh/gitlab.py: GitLab's RateLimit-* headers, 429 waits, API origins, GITLAB_HOSTS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gh.gitlab import api_origin, is_gitlab_host, parse_rate_limit, project_api_path, rate_limited_until
from gh.rules import RateBudget
from settings import Settings

NOW = datetime(2026, 12, 2, 5, 0, 0, tzinfo=UTC)
RESET = 1_796_187_660  # 2026-12-02T05:01:00Z


def test_rate_limit_headers_become_a_budget() -> None:
    headers = {"RateLimit-Limit": "2000", "RateLimit-Observed": "12", "RateLimit-Remaining": "1988",
               "RateLimit-Reset": str(RESET), "RateLimit-ResetTime": "Wed, 02 Dec 2026 05:01:00 GMT"}  # fmt: skip
    assert parse_rate_limit(headers) == RateBudget(2000, 1988, datetime(2026, 12, 2, 5, 1, tzinfo=UTC), 12, None)
    assert parse_rate_limit({"RateLimit-Limit": "2000"}) is None
    assert parse_rate_limit({"ratelimit-limit": "10", "ratelimit-remaining": "4"}) == RateBudget(10, 4, None, 6, None)


@pytest.mark.parametrize(
    ("headers", "until"),
    [
        ({"Retry-After": "30", "RateLimit-Reset": str(RESET)}, NOW + timedelta(seconds=30)),
        ({"Retry-After": "Wed, 02 Dec 2026 05:02:00 GMT"}, datetime(2026, 12, 2, 5, 2, tzinfo=UTC)),
        (
            {"RateLimit-Limit": "10", "RateLimit-Remaining": "0", "RateLimit-Reset": str(RESET)},
            datetime(2026, 12, 2, 5, 1, tzinfo=UTC),
        ),
        ({}, NOW + timedelta(seconds=60)),
        ({"Retry-After": ""}, NOW + timedelta(seconds=60)),
    ],
)
def test_a_429_waits_for_retry_after_then_the_reset_then_a_minute(headers: dict[str, str], until: datetime) -> None:
    assert rate_limited_until(headers, NOW) == until


def test_api_origin_and_path() -> None:
    assert api_origin("gitlab.com", "https://gitlab.com/a/b.git") == "https://gitlab.com"
    assert api_origin("gitlab.com", "git@gitlab.com:a/b.git") == "https://gitlab.com"
    assert api_origin("127.0.0.1:8080", "http://127.0.0.1:8080/a/b.git") == "http://127.0.0.1:8080"
    assert project_api_path("group/sub/my.proj") == "/api/v4/projects/group%2Fsub%2Fmy.proj"


def test_gitlab_hosts_setting() -> None:
    default = Settings.from_mapping({})
    assert default.gitlab_hosts == ("gitlab.com",)
    assert is_gitlab_host(default, "gitlab.com") and not is_gitlab_host(default, "github.com")
    custom = Settings.from_mapping({"GITLAB_HOSTS": "gitlab.com, Git.Company.example:8443"})
    assert is_gitlab_host(custom, "git.company.example:8443") and not is_gitlab_host(custom, None)
