"""Read GitLab projects (gitlab.com and self-hosted GitLab) through python-gitlab.

One call per repository: `GET /api/v4/projects/:url-encoded-path` (GitLab's Projects API, "Get a
single project"). The discipline is the GitHub client's (gh/client.py):

- conditional: the last 200 answer is kept with its `ETag` (gh/cache.py, keyed by token fingerprint
  and URL); the next GET sends `If-None-Match`, and GitLab's 304 returns the stored body;
- rate limits: every answer's `RateLimit-Limit/-Remaining/-Reset` headers feed a governor shared by
  every worker for that host (Redis when configured); a 429 pauses the host until `Retry-After`
  (else `RateLimit-Reset`, else 60 s). A pause within GITLAB_MAX_PAUSE is slept through, a longer
  one is a clean `GitLabRateLimited` error for that repository;
- credentials: the host's own token (GIT_HOST_TOKENS) goes out as `PRIVATE-TOKEN` to that host only;
  redirects are never followed (a redirect could carry the header elsewhere) and no message holds it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import gitlab
import requests
from gitlab.exceptions import GitlabError

from gh.cache import CacheEntry, ConditionalCache, MemoryConditionalCache, cache_key
from gh.governor import LocalGovernor, RateGovernor, RedisGovernor
from gh.rules import RateBudget, header_map, retry_at
from infra import telemetry
from infra.redaction import redact
from infra.runtime import Runtime, runtime
from settings import Settings

log = logging.getLogger(__name__)
USER_AGENT = "project-tracker (python-gitlab)"
DEFAULT_WAIT = 60.0  # no Retry-After and no RateLimit-Reset on a 429: wait a minute
PAUSE_MARGIN = 0.25
MAX_PAUSE_WAITS = 3


class GitLabError(Exception):
    """A GitLab API call failed; the message never contains a secret."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class GitLabNotFound(GitLabError):
    """404: no such project, or the token (if any) cannot see it (GitLab hides private projects)."""


class GitLabRateLimited(GitLabError):
    """429, or the host's work is paused longer than GITLAB_MAX_PAUSE."""

    def __init__(self, message: str, retry_at: datetime) -> None:
        super().__init__(message, 429)
        self.retry_at = retry_at


@dataclass(frozen=True)
class GitLabProject:
    """GitLab's project JSON (the stored body on a 304) and when that body was fetched."""

    data: dict[str, Any]
    not_modified: bool
    fetched_at: datetime


def _utcnow() -> datetime:
    return datetime.now(UTC)


def is_gitlab_host(settings: Settings, host: str | None) -> bool:
    """Tell whether a repository host (lower-case host[:port]) serves GitLab's API (GITLAB_HOSTS)."""
    return bool(host) and (host or "").lower() in {h.lower() for h in settings.gitlab_hosts}


def api_origin(host: str, clone_url: str | None) -> str:
    """Return the GitLab origin of a repository: http only when its clone URL is plain http."""
    scheme = urlsplit(clone_url or "").scheme.lower() if "://" in (clone_url or "") else ""
    return f"{'http' if scheme == 'http' else 'https'}://{host}"


def project_api_path(path: str) -> str:
    """Return the API path of a project: `/api/v4/projects/` and its URL-encoded `namespace/name`."""
    return f"/api/v4/projects/{quote(path, safe='')}"


def _int(value: str | None) -> int | None:
    try:
        return int(float(value.strip())) if value is not None else None
    except ValueError:
        return None


def parse_rate_limit(headers: Mapping[str, str]) -> RateBudget | None:
    """Return the budget of GitLab's `RateLimit-*` headers (Reset is Unix time), None when absent."""
    values = header_map(headers)
    limit, remaining = _int(values.get("ratelimit-limit")), _int(values.get("ratelimit-remaining"))
    if limit is None or remaining is None:
        return None
    reset, observed = _int(values.get("ratelimit-reset")), _int(values.get("ratelimit-observed"))
    return RateBudget(
        limit=limit,
        remaining=remaining,
        reset_at=datetime.fromtimestamp(reset, UTC) if reset is not None else None,
        used=observed if observed is not None else max(limit - remaining, 0),
        resource=None,
    )


def rate_limited_until(headers: Mapping[str, str], now: datetime) -> datetime:
    """Return when a 429 may be retried: `Retry-After`, else `RateLimit-Reset`, else a minute."""
    values = header_map(headers)
    if values.get("retry-after", "").strip():
        until = retry_at(429, values, None, now)  # delta-seconds or HTTP-date (RFC 9110 §10.2.3)
        if until is not None:
            return until
    budget = parse_rate_limit(values)
    if budget is not None and budget.reset_at is not None and budget.reset_at > now:
        return budget.reset_at
    return now + timedelta(seconds=DEFAULT_WAIT)


def gitlab_governor(host: str, rt: Runtime | None = None) -> RateGovernor:
    """Return the rate governor of one GitLab host: shared through Redis, or in-process when embedded."""
    rt = rt or runtime()
    key = f"gitlab_governor:{host}"
    governor = rt.extras.get(key)
    if governor is None:
        floor = rt.settings.gitlab_rate_floor
        if rt.redis is not None:
            governor = RedisGovernor(rt.redis, floor=floor, prefix=f"project-tracker:gitlab:{host}")
        else:
            governor = LocalGovernor(floor=floor)
        rt.extras[key] = governor
    return governor


class GitLabClient:
    """Read projects of one GitLab host; the host's token reaches that host only."""

    def __init__(
        self,
        settings: Settings,
        host: str,
        origin: str,
        *,
        cache: ConditionalCache | None = None,
        governor: RateGovernor | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._settings = settings
        self._host = host.lower()
        self._origin = origin.rstrip("/")
        self._token = settings.host_tokens().get(self._host)
        self._secrets = settings.secrets()
        self._cache = cache if cache is not None else MemoryConditionalCache()
        self._governor = governor if governor is not None else LocalGovernor(settings.gitlab_rate_floor)
        self._sleep = sleep
        self._now = now

    def get_project(self, path: str) -> GitLabProject:
        """Return a project by its path (`group/subgroup/name`), conditionally."""
        url = self._origin + project_api_path(path)
        key = cache_key(self._token, url)
        for _attempt in range(MAX_PAUSE_WAITS + 1):
            self._await_budget()
            cached = self._cache.get(key)
            status, headers, data = self._send(path, cached)
            if status != 401:
                self._governor.observe(parse_rate_limit(headers))
            log.debug("GET %s -> %s (remaining %s)", self._display(url), status, headers.get("ratelimit-remaining"))
            if status == 304 and cached is not None:
                return GitLabProject(dict(cached.body), True, cached.fetched_at)
            if 200 <= status < 300 and isinstance(data, dict):
                fetched = self._now()
                if headers.get("etag"):
                    self._cache.put(key, CacheEntry(headers["etag"], None, data, None, fetched))
                return GitLabProject(data, False, fetched)
            if status == 429:
                until = rate_limited_until(headers, self._now())
                self._governor.pause_until(until, "GitLab rate limit")
                log.warning("GitLab rate limit on %s: pausing until %s", self._host, until.isoformat())
                continue
            raise self._failure(status, url, data)
        until = self._governor.paused_until(self._now()) or self._now()
        raise GitLabRateLimited(f"GitLab's rate limit on {self._host} is exhausted until {until.isoformat()}", until)

    # -- internals --------------------------------------------------------------------------

    def _send(self, path: str, cached: CacheEntry | None) -> tuple[int, dict[str, str], Any]:
        """Send one GET through python-gitlab; return status, lower-case headers and the JSON (if any)."""
        answers: list[requests.Response] = []
        conditional = {"If-None-Match": cached.etag} if cached is not None and cached.etag else {}
        with requests.Session() as session:
            session.max_redirects = 0  # never follow: PRIVATE-TOKEN would go wherever Location says
            session.auth = _no_auth  # never fall back to ~/.netrc credentials
            session.hooks["response"].append(lambda answer, *args, **kwargs: answers.append(answer))
            client = gitlab.Gitlab(
                self._origin,
                private_token=self._token,
                session=session,
                timeout=self._settings.gitlab_timeout,
                user_agent=USER_AGENT,
                retry_transient_errors=True,
            )
            try:
                with telemetry.span("GitLab GET", **{"url.path": project_api_path(path)}):
                    project = client.projects.get(
                        path,
                        obey_rate_limit=False,  # 429s are the governor's: shared pause, bounded wait
                        max_retries=self._settings.gitlab_max_retries,  # 5xx and network errors only
                        extra_headers=conditional,
                    )
            except GitlabError as exc:
                if not answers:
                    raise GitLabError(self._redact(f"GitLab on {self._host} did not answer: {exc}")) from None
                last = answers[-1]
                return last.status_code, header_map(last.headers), _json(last)
            except requests.exceptions.TooManyRedirects:
                raise GitLabError(f"GitLab on {self._host} redirected the project request; not followed") from None
            except requests.exceptions.RequestException as exc:
                message = f"GitLab on {self._host} did not answer: {type(exc).__name__}"
                raise GitLabError(self._redact(message)) from None
        headers = header_map(answers[-1].headers) if answers else {}
        return 200, headers, dict(project.attributes)

    def _failure(self, status: int, url: str, body: Any) -> GitLabError:
        text = ""
        if isinstance(body, dict):
            text = str(body.get("message") or body.get("error") or "")
        message = self._redact(
            f"GitLab answered {status}" + (f": {text}" if text else "") + f" (GET {self._display(url)})"
        )
        if status == 404:
            return GitLabNotFound(message + "; the project does not exist or the host's token cannot see it", 404)
        if 300 <= status < 400:
            return GitLabError(message + "; redirects are not followed", status)
        return GitLabError(message, status)

    def _await_budget(self) -> None:
        """Sleep through a pause that ends within GITLAB_MAX_PAUSE, else raise GitLabRateLimited."""
        for waits in range(MAX_PAUSE_WAITS + 1):
            now = self._now()
            until = self._governor.paused_until(now)
            if until is None:
                return
            delay = (until - now).total_seconds()
            if delay > self._settings.gitlab_max_pause or waits == MAX_PAUSE_WAITS:
                raise GitLabRateLimited(
                    f"GitLab's rate limit on {self._host} is exhausted: paused until {until.isoformat()}", until
                )
            log.warning("GitLab work on %s paused for %.1f s", self._host, delay)
            self._sleep(delay + PAUSE_MARGIN)

    def _display(self, url: str) -> str:
        return self._redact(url)

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)


def _no_auth(request: Any) -> Any:
    return request


def _json(answer: requests.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None
