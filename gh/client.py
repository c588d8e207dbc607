"""Talk to the GitHub REST API: conditional GETs, pagination, retries and shared rate-limit pauses.

PyGithub's `Requester` builds every request (auth header, base URL incl. GitHub Enterprise's
`/api/v3`, absolute `Link` URLs, 301 redirects); this module adds what the service needs around
it and returns plain JSON (no lazy PyGithub objects, so no surprise extra calls).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from github import Auth, Github
from github.Requester import Requester, RequestsResponse
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from gh.cache import CacheEntry, ConditionalCache, MemoryConditionalCache, cache_key
from gh.governor import LocalGovernor, RateGovernor
from gh.rules import (
    GitHubBadResponse,
    GitHubError,
    GitHubRateLimited,
    GitHubUnauthorized,
    GitHubUnavailable,
    RateBudget,
    classify,
    error_message,
    header_map,
    is_secondary_rate_limit,
    parse_link,
    parse_rate_limit,
    retry_at,
)
from infra import telemetry
from infra.redaction import redact
from settings import Settings

logger = logging.getLogger(__name__)

# Recommended media type (https://docs.github.com/en/rest/using-the-rest-api/getting-started-with-the-rest-api#media-types)
ACCEPT = "application/vnd.github+json"
USER_AGENT = "project-tracker (PyGithub)"
PAUSE_MARGIN = 0.25  # seconds past a reset/retry-after before trying again
MAX_PAUSE_WAITS = 3  # pauses slept in a row before giving up (another worker keeps extending it)
_TRANSIENT = (
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ApiResponse:
    """One GitHub answer: parsed JSON (from the cache on a 304), headers and validators."""

    status: int
    data: Any
    headers: dict[str, str]
    etag: str | None
    not_modified: bool
    link: dict[str, str]
    url: str = ""


class _Retry(Exception):
    """Carry an error that may be retried through tenacity."""

    def __init__(self, error: GitHubError) -> None:
        super().__init__(error.message)
        self.error = error


class _Connection:
    """Carry PyGithub's requests over one shared `requests.Session` (PyGithub's connection duck type).

    One instance per call keeps concurrent calls apart, carries the (connect, read) timeout tuple
    that `Github(timeout=...)` refuses, and records the URLs asked. PyGithub follows a 301 itself
    but drops the query of `Location`; the next request of the same call gets it back here.
    """

    def __init__(self, session: requests.Session, origin: str, timeout: tuple[float, float]) -> None:
        self._session = session
        self._origin = origin
        self._timeout = timeout
        self._pending: tuple[str, str, Any, dict[str, str]] | None = None
        self._moved_to: str | None = None
        self.requested: list[str] = []

    def request(self, verb: str, url: str, input: Any, headers: dict[str, str], stream: bool = False) -> None:
        """Remember the request PyGithub is about to make."""
        if self._moved_to is not None:
            moved = urlsplit(self._moved_to)
            if url == moved.path and moved.query:
                url = f"{url}?{moved.query}"
        self._pending = (verb, url, input, dict(headers))
        self.requested.append(url)

    def getresponse(self) -> RequestsResponse:
        """Send the remembered request and return PyGithub's response wrapper."""
        assert self._pending is not None, "request() must come first"
        verb, url, data, headers = self._pending
        answer = self._session.request(
            verb, self._origin + url, headers=headers, data=data, timeout=self._timeout, allow_redirects=False
        )
        self._moved_to = answer.headers.get("location") if answer.status_code == 301 else None
        return RequestsResponse(answer)

    def close(self) -> None:
        """Keep the shared session open (the client closes it)."""


def _json(text: str) -> Any:
    return json.loads(text) if text.strip() else None


class GitHubClient:
    """The service's only way to GitHub's REST API."""

    def __init__(
        self,
        settings: Settings,
        *,
        cache: ConditionalCache | None = None,
        governor: RateGovernor | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._settings = settings
        self._token = settings.github_token
        self._secrets = settings.secrets()
        self._cache = cache if cache is not None else MemoryConditionalCache()
        self._governor = governor if governor is not None else LocalGovernor(settings.github_rate_floor)
        self._sleep = sleep
        self._now = now
        # Github() asserts an int timeout; the real (connect, read) tuple travels in _Connection.
        self._github = Github(
            base_url=settings.github_api_url,
            auth=Auth.Token(self._token) if self._token else None,
            timeout=max(1, math.ceil(settings.github_read_timeout)),
            user_agent=USER_AGENT,
            retry=None,
            per_page=100,
            seconds_between_requests=None,  # pacing is the governor's job
            seconds_between_writes=None,
        )
        self._requester: Requester = self._github.requester
        base = urlsplit(settings.github_api_url)
        self._origin = f"{base.scheme}://{base.netloc}"
        self._session = requests.Session()
        self._session.auth = lambda request: request  # never fall back to ~/.netrc credentials
        self._timeout = (settings.github_connect_timeout, settings.github_read_timeout)
        self._backoff = wait_random_exponential(
            multiplier=settings.github_backoff_base, max=settings.github_backoff_max
        )

    def close(self) -> None:
        """Release the HTTP connections."""
        self._session.close()
        self._github.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the generic GET ------------------------------------------------------------------

    def get(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> ApiResponse:
        """GET a path or same-origin URL, conditionally, with retries and rate-limit pauses."""
        url = self._url(path_or_url, params)
        key = cache_key(self._token, url)
        retrying = Retrying(
            stop=stop_after_attempt(self._settings.github_max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(_Retry),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(self._attempt, url, key)
        except _Retry as exc:
            raise exc.error from exc.__cause__

    def paginate(
        self, path: str, params: Mapping[str, Any] | None = None, *, max_items: int | None = None
    ) -> Iterator[ApiResponse]:
        """Yield every page, following `Link: rel="next"`; each page is conditional on its own URL."""
        url: str | None = path
        page_params = params
        seen = 0
        while url:
            page = self.get(url, page_params)
            page_params = None  # the next URL carries the query
            items = page.data if isinstance(page.data, list) else []
            if max_items is not None and seen + len(items) >= max_items:
                yield replace(page, data=items[: max_items - seen])
                return
            seen += len(items)
            yield page
            url = page.link.get("next")

    def write(self, verb: str, path: str, body: Mapping[str, Any]) -> Any:
        """Send one POST/PATCH with a JSON body (not retried: a write may have landed); return its JSON."""
        self._require_token()
        self._await_budget()
        url = self._url(path, None)
        conn = _Connection(self._session, self._origin, self._timeout)
        try:
            status, raw, text = self._requester.requestJson(verb, url, input=dict(body), cnx=conn)
        except requests.exceptions.RequestException as exc:
            raise GitHubUnavailable(self._redact(f"{verb} {self._display(url)}: {type(exc).__name__}")) from exc
        headers = header_map(raw)
        self._governor.observe(parse_rate_limit(headers))
        if not 200 <= status < 300:
            failure = self._failure(url, status, headers, text)
            raise failure.error if isinstance(failure, _Retry) else failure
        return _json(text) if text else None

    # -- typed helpers (plain dicts) --------------------------------------------------------

    def authenticated_user(self) -> dict[str, Any]:
        """Return the token owner's user object."""
        self._require_token()
        return self._expect(self.get("/user"), dict)

    def list_owned_repositories(self) -> tuple[list[dict[str, Any]], bool]:
        """Return the token owner's repositories (every page) and whether any page changed."""
        self._require_token()
        pages = list(self.paginate("/user/repos", {"type": "owner", "per_page": 100}))
        repos = [repo for page in pages for repo in self._expect(page, list)]
        return repos, not all(page.not_modified for page in pages)

    def get_repository(self, owner: str, name: str) -> dict[str, Any]:
        """Return a repository (a renamed or transferred one through GitHub's 301)."""
        return self._expect(self.get(f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"), dict)

    def get_repository_by_id(self, github_id: int) -> dict[str, Any]:
        """Return a repository by its immutable id."""
        return self._expect(self.get(f"/repositories/{int(github_id)}"), dict)

    def get_languages(self, owner: str, name: str) -> dict[str, int]:
        """Return bytes of code per language of a repository."""
        return self._expect(self.get(f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}/languages"), dict)

    def budget(self) -> RateBudget | None:
        """Return the core budget from `GET /rate_limit` (free: it is not charged)."""
        rate = self._expect(self.get("/rate_limit"), dict).get("resources", {}).get("core")
        if not isinstance(rate, dict):
            raise GitHubBadResponse("GET /rate_limit: no resources.core in the answer")
        budget = RateBudget(
            limit=int(rate["limit"]),
            remaining=int(rate["remaining"]),
            reset_at=datetime.fromtimestamp(int(rate["reset"]), UTC),
            used=int(rate.get("used", int(rate["limit"]) - int(rate["remaining"]))),
            resource="core",
        )
        self._governor.observe(budget)
        return budget

    # -- internals --------------------------------------------------------------------------

    def _require_token(self) -> None:
        if not self._token:
            raise GitHubUnauthorized("GITHUB_ACCESS_TOKEN is not set")

    def _expect(self, response: ApiResponse, kind: type) -> Any:
        if not isinstance(response.data, kind):
            raise GitHubBadResponse(f"GET {self._display(response.url)}: expected a JSON {kind.__name__}")
        return response.data

    def _url(self, path_or_url: str, params: Mapping[str, Any] | None) -> str:
        """Return the absolute URL with every query parameter sorted (the cache key's shape)."""
        if path_or_url.startswith("/"):
            url = self._settings.github_api_url.rstrip("/") + path_or_url
        else:
            target = urlsplit(path_or_url)
            if f"{target.scheme}://{target.netloc}" != self._origin:
                raise GitHubBadResponse(f"refusing a URL outside {self._origin}: {self._redact(path_or_url)}")
            url = path_or_url
        return Requester.add_parameters_to_url(url, dict(params or {}))

    def _display(self, url: str) -> str:
        return self._redact(url.removeprefix(self._origin))

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def _wait(self, state: RetryCallState) -> float:
        """Back off with full jitter after 5xx/network errors; rate limits wait in `_await_budget`."""
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _Retry) and isinstance(error.error, GitHubRateLimited):
            return 0.0
        return float(self._backoff(state))

    def _attempt(self, url: str, key: str) -> ApiResponse:
        self._await_budget()
        cached = self._cache.get(key)
        status, headers, text, final_url = self._send(url, cached)
        if status != 401:  # a 401 reports the unauthenticated budget, not the token's
            self._governor.observe(parse_rate_limit(headers))
        logger.debug(
            "GET %s -> %s (remaining %s)", self._display(final_url), status, headers.get("x-ratelimit-remaining")
        )
        if status == 304:
            if cached is None:
                raise GitHubBadResponse(f"GET {self._display(url)}: 304 without a cached answer")
            return ApiResponse(304, cached.body, headers, cached.etag, True, parse_link(cached.link), final_url)
        if 200 <= status < 300:
            return self._store(key, status, headers, text, final_url)
        raise self._failure(url, status, headers, text)

    def _send(self, url: str, cached: CacheEntry | None) -> tuple[int, dict[str, str], str, str]:
        headers = {"Accept": ACCEPT}
        if cached is not None and cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached is not None and cached.last_modified:
            headers["If-Modified-Since"] = cached.last_modified
        conn = _Connection(self._session, self._origin, self._timeout)
        try:
            with telemetry.span("GitHub GET", **{"url.path": urlsplit(self._display(url)).path}):
                status, raw_headers, text = self._requester.requestJson("GET", url, headers=headers, cnx=conn)
        except _TRANSIENT as exc:
            message = self._redact(f"GET {self._display(url)}: {type(exc).__name__}: {exc}")
            raise _Retry(GitHubUnavailable(message)) from exc
        except requests.exceptions.RequestException as exc:
            raise GitHubError(self._redact(f"GET {self._display(url)}: {type(exc).__name__}: {exc}")) from exc
        except RuntimeError as exc:  # PyGithub refuses a redirect to another scheme or host
            raise GitHubBadResponse(self._redact(f"GET {self._display(url)}: {exc}")) from exc
        final = self._origin + conn.requested[-1] if conn.requested else url
        return status, header_map(raw_headers), text, final

    def _store(self, key: str, status: int, headers: dict[str, str], text: str, url: str) -> ApiResponse:
        try:
            data = _json(text)
        except ValueError as exc:
            raise GitHubBadResponse(f"GET {self._display(url)}: malformed JSON ({exc})") from exc
        etag, last_modified = headers.get("etag"), headers.get("last-modified")
        if etag or last_modified:
            entry = CacheEntry(etag, last_modified, data, headers.get("link"), self._now())
            self._cache.put(key, entry)
        return ApiResponse(status, data, headers, etag, False, parse_link(headers.get("link")), url)

    def _failure(self, url: str, status: int, headers: dict[str, str], text: str) -> Exception:
        try:
            body = _json(text)
        except ValueError:
            body = None
        kind = classify(status, headers, body) or GitHubError
        message = self._redact(f"{error_message(status, body)} (GET {self._display(url)})")
        if kind is GitHubRateLimited:
            now = self._now()
            until = retry_at(status, headers, body, now) or now
            secondary = is_secondary_rate_limit(status, headers, body)
            self._governor.pause_until(until, "secondary rate limit" if secondary else "primary rate limit")
            logger.warning("GitHub rate limit (%s): pausing until %s", "secondary" if secondary else "primary", until)
            return _Retry(GitHubRateLimited(message, status, until, secondary=secondary))
        if kind is GitHubUnavailable:
            return _Retry(GitHubUnavailable(message, status))
        return kind(message, status)

    def _await_budget(self) -> None:
        """Sleep through a pause that ends within `github_max_pause`, else raise GitHubRateLimited."""
        for waits in range(MAX_PAUSE_WAITS + 1):
            now = self._now()
            state = self._governor.snapshot(now)
            if state["paused_until"] is None:
                return
            until = datetime.fromisoformat(state["paused_until"])
            delay = (until - now).total_seconds()
            reason = str(state["reason"])
            if delay > self._settings.github_max_pause or waits == MAX_PAUSE_WAITS:
                raise GitHubRateLimited(
                    f"GitHub work is paused until {until.isoformat()} ({reason})",
                    retry_at=until,
                    secondary="secondary" in reason,
                )
            logger.warning("GitHub work paused for %.1f s (%s)", delay, reason)
            self._sleep(delay + PAUSE_MARGIN)
