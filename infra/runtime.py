"""Hold the per-app services (settings, job queue, Redis, scheduler) and reach them.

The GitHub rate governor and client hang off `Runtime` too, but `gh.access` builds them: this
module sits below every feature package and imports none of them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError

from infra.tasks import RQTaskQueue, TaskQueue, ThreadTaskQueue
from settings import Settings

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

log = logging.getLogger(__name__)
EXTENSION_KEY = "project_tracker"


@dataclass
class Runtime:
    """What the app's views and jobs share besides the database."""

    settings: Settings
    tasks: TaskQueue
    redis: Redis | None = None
    governor: Any = None
    scheduler: BaseScheduler | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class RedisUnreachable(RuntimeError):
    """REDIS_URL is set but its server does not answer at start."""


def connect_redis(url: str) -> Redis:
    """Return a Redis client whose server answers, else raise RedisUnreachable (no secret in the message)."""
    client = Redis.from_url(url, socket_connect_timeout=3, health_check_interval=30)
    try:
        client.ping()
    except RedisError as exc:
        # A silent in-process fallback would split de-duplication across gunicorn workers: refuse to start.
        raise RedisUnreachable(
            f"REDIS_URL is set but Redis does not answer ({type(exc).__name__}): start Redis, fix REDIS_URL, "
            "or unset it to run jobs in the web process"
        ) from None
    return client


def build_runtime(app: Flask, settings: Settings) -> Runtime:
    """Choose RQ (REDIS_URL set: Redis must answer) or the embedded thread queue (REDIS_URL unset)."""
    if settings.redis_url:
        redis = connect_redis(settings.redis_url)
        return Runtime(settings=settings, tasks=RQTaskQueue(redis, settings), redis=redis)
    return Runtime(settings=settings, tasks=ThreadTaskQueue(app))


def redis_up(rt: Runtime) -> bool | None:
    """Tell whether the configured Redis answers now (None in the embedded mode, which has none)."""
    if rt.redis is None:
        return None
    try:
        return bool(rt.redis.ping())
    except RedisError:
        return False


def runtime(app: Flask | None = None) -> Runtime:
    return (app or current_app).extensions[EXTENSION_KEY]


def current_settings() -> Settings:
    return runtime().settings
