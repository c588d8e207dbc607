"""Reach this app's GitHub rate governor and client (built once per app, kept on its `Runtime`)."""

from __future__ import annotations

from gh.cache import DbConditionalCache
from gh.client import GitHubClient
from gh.governor import LocalGovernor, RateGovernor, RedisGovernor
from infra.runtime import Runtime, runtime


def rate_governor(rt: Runtime | None = None) -> RateGovernor:
    """Return the GitHub rate governor: shared through Redis, or in-process when embedded."""
    rt = rt or runtime()
    if rt.governor is None:
        floor = rt.settings.github_rate_floor
        rt.governor = RedisGovernor(rt.redis, floor=floor) if rt.redis is not None else LocalGovernor(floor=floor)
    return rt.governor


def github_client() -> GitHubClient:
    """Return a GitHub client for this app: conditional cache in the database, shared governor."""
    rt = runtime()
    client = rt.extras.get("github_client")
    if client is None:
        client = GitHubClient(rt.settings, cache=DbConditionalCache(), governor=rate_governor(rt))
        rt.extras["github_client"] = client
    return client
