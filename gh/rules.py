"""Interpret GitHub REST API answers: pure functions of status, headers and body (no I/O).

Every rule cites the GitHub docs page it follows. The exception types live here too, so
`classify` can name them without importing the client.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from infra.redaction import redact

DOCS_RATE_LIMITS = "https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api"
DOCS_PAGINATION = "https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api"
DOCS_TROUBLESHOOTING = "https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api"

# "Otherwise, wait for at least one minute before retrying." (DOCS_RATE_LIMITS#exceeding-the-rate-limit)
SECONDARY_DEFAULT_WAIT = 60.0

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


class GitHubError(Exception):
    """A GitHub API call failed; the message never contains a secret."""

    def __init__(self, message: str, status: int | None = None, retry_at: datetime | None = None) -> None:
        self.message = redact(message)
        self.status = status
        self.retry_at = retry_at
        super().__init__(self.message)


class GitHubNotFound(GitHubError):
    """404: the resource does not exist or the token may not see it."""


class GitHubUnauthorized(GitHubError):
    """401: no token, or GitHub rejected it."""


class GitHubForbidden(GitHubError):
    """403 that is not a rate limit: the token lacks a permission."""


class GitHubRateLimited(GitHubError):
    """403/429 rate limit, or a pause longer than allowed; `retry_at` says when to try again."""

    def __init__(
        self, message: str, status: int | None = None, retry_at: datetime | None = None, *, secondary: bool = False
    ) -> None:
        super().__init__(message, status, retry_at)
        self.secondary = secondary


class GitHubUnavailable(GitHubError):
    """5xx after retries, a timeout or a connection error."""


class GitHubBadResponse(GitHubError):
    """GitHub answered something that cannot be used (malformed JSON, unexpected redirect)."""


@dataclass(frozen=True)
class RateBudget:
    """The primary rate-limit window reported by one answer's `x-ratelimit-*` headers."""

    limit: int
    remaining: int
    reset_at: datetime | None
    used: int
    resource: str | None


def header_map(headers: Headers | None) -> dict[str, str]:
    """Return the headers as a dict with lower-case names (HTTP names ignore case, RFC 9110 §5.1)."""
    if headers is None:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {str(name).lower(): str(value) for name, value in items}


_LINK_PART = re.compile(r"<(?P<url>[^>]*)>(?P<params>[^<]*)")
_LINK_REL = re.compile(r"""(?i)\brel\s*=\s*(?:"(?P<quoted>[^"]*)"|(?P<bare>[^\s;,"]+))""")


def parse_link(header: str | None) -> dict[str, str]:
    """Return rel → URL from a `Link` header (`<url>; rel="next", <url>; rel="last"`).

    Follows DOCS_PAGINATION ("The link header provides the URL for the previous, next, first,
    and last page") with RFC 8288 leniency: odd spacing, unquoted or multi-valued `rel`.
    """
    links: dict[str, str] = {}
    for match in _LINK_PART.finditer(header or ""):
        rel = _LINK_REL.search(match.group("params"))
        if not rel:
            continue
        url = match.group("url").strip()
        for name in (rel.group("quoted") or rel.group("bare") or "").split():
            links.setdefault(name.lower(), url)
    return links


def _as_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        # GitHub sends integers; some proxies re-serialise them as floats ("4999.0")
        return int(float(value.strip()))
    except ValueError:
        return None


def parse_rate_limit(headers: Headers | None) -> RateBudget | None:
    """Return the budget from `x-ratelimit-*` headers, or None when they are absent.

    Header meanings from DOCS_RATE_LIMITS#checking-the-status-of-your-rate-limit:
    `x-ratelimit-reset` is "the time at which the current rate limit window resets in UTC epoch seconds".
    """
    values = header_map(headers)
    limit = _as_int(values.get("x-ratelimit-limit"))
    remaining = _as_int(values.get("x-ratelimit-remaining"))
    if limit is None or remaining is None:
        return None
    reset = _as_int(values.get("x-ratelimit-reset"))
    used = _as_int(values.get("x-ratelimit-used"))
    return RateBudget(
        limit=limit,
        remaining=remaining,
        reset_at=datetime.fromtimestamp(reset, UTC) if reset is not None else None,
        used=used if used is not None else max(limit - remaining, 0),
        resource=values.get("x-ratelimit-resource"),
    )


def _message(body: Any) -> str:
    if isinstance(body, Mapping):
        return str(body.get("message") or "")
    return ""


_SECONDARY_WORDING = ("secondary rate limit", "abuse detection", "abuse-rate-limits", "secondary-rate-limits")


def _retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Return the wait of a `retry-after` value: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if value is None or not value.strip():
        return None
    seconds = _as_int(value)
    if seconds is not None:
        return float(max(seconds, 0))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - now).total_seconds(), 0.0)


def is_primary_rate_limit(status: int, headers: Headers | None, body: Any = None) -> bool:
    """Tell whether an answer is a primary rate limit.

    DOCS_RATE_LIMITS#exceeding-the-rate-limit: "If you exceed your primary rate limit, you will
    receive a 403 or 429 response, and the x-ratelimit-remaining header will be 0."
    """
    if status not in (403, 429):
        return False
    if _as_int(header_map(headers).get("x-ratelimit-remaining")) == 0:
        return True
    # Lenient for answers whose headers a proxy dropped: GitHub's wording is stable since 2013.
    return _message(body).lower().startswith("api rate limit exceeded")


def is_secondary_rate_limit(status: int, headers: Headers | None, body: Any = None) -> bool:
    """Tell whether an answer is a secondary rate limit.

    DOCS_RATE_LIMITS#exceeding-the-rate-limit: "a 403 or 429 response and an error message that
    indicates that you exceeded a secondary rate limit"; `retry-after` "might be present". A 429 is
    always a rate limit; a 403 needs the header or the wording (older answers said "abuse detection").
    """
    if status not in (403, 429) or is_primary_rate_limit(status, headers, body):
        return False
    if status == 429 or "retry-after" in header_map(headers):
        return True
    doc_url = body.get("documentation_url", "") if isinstance(body, Mapping) else ""
    text = f"{_message(body)} {doc_url}".lower()
    return any(word in text for word in _SECONDARY_WORDING)


def is_rate_limit(status: int, headers: Headers | None, body: Any = None) -> bool:
    """Tell whether a 403/429 answer is a rate limit rather than a plain 403 Forbidden."""
    return is_primary_rate_limit(status, headers, body) or is_secondary_rate_limit(status, headers, body)


def retry_delay(status: int, headers: Headers | None, body: Any, now: datetime) -> float | None:
    """Return the seconds to wait before retrying a rate-limited answer, None if it is no rate limit.

    DOCS_RATE_LIMITS#exceeding-the-rate-limit: "If the retry-after response header is present, you
    should not retry your request until after that many seconds has elapsed. If the
    x-ratelimit-remaining header is 0, you should not retry your request until after the time, in
    UTC epoch seconds, specified by the x-ratelimit-reset header. Otherwise, wait for at least one
    minute before retrying."
    """
    if not is_rate_limit(status, headers, body):
        return None
    values = header_map(headers)
    after = _retry_after_seconds(values.get("retry-after"), now)
    if after is not None:
        return after
    budget = parse_rate_limit(values)
    if budget is not None and budget.remaining == 0 and budget.reset_at is not None:
        return max((budget.reset_at - now).total_seconds(), 0.0)
    return SECONDARY_DEFAULT_WAIT


def retry_at(status: int, headers: Headers | None, body: Any, now: datetime) -> datetime | None:
    """Return the moment a rate-limited answer may be retried, None if it is no rate limit."""
    delay = retry_delay(status, headers, body, now)
    return None if delay is None else now + timedelta(seconds=delay)


def classify(status: int, headers: Headers | None, body: Any = None) -> type[GitHubError] | None:
    """Return the exception type an answer maps to, None for success (2xx) and 304.

    DOCS_TROUBLESHOOTING: 401 "Bad credentials"/"Requires authentication"; 403 without a rate
    limit is a missing permission; 404 also hides private resources; 5xx are GitHub-side errors.
    """
    if 200 <= status < 300 or status == 304:
        return None
    if status == 401:
        return GitHubUnauthorized
    if status == 404:
        return GitHubNotFound
    if is_rate_limit(status, headers, body):
        return GitHubRateLimited
    if status == 403:
        return GitHubForbidden
    if status >= 500:
        return GitHubUnavailable
    return GitHubError


def error_message(status: int, body: Any) -> str:
    """Return a one-line description of an error answer (GitHub's `message` when present)."""
    text = _message(body) or (str(body.get("error")) if isinstance(body, Mapping) and body.get("error") else "")
    return f"GitHub answered {status}" + (f": {text}" if text else "")


def parse_github_time(value: str | None) -> datetime | None:
    """Parse GitHub's `2024-01-18T12:19:38Z` timestamps."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
