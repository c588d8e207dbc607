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


def connect_redis(url: str) -> Redis | None:
    """Return a Redis client when the server answers, else None (logged)."""
    client = Redis.from_url(url, socket_connect_timeout=3, health_check_interval=30)
    try:
        client.ping()
    except RedisError as exc:
        log.warning("Redis unreachable (%s): jobs will run in a background thread", type(exc).__name__)
        return None
    return client


def build_runtime(app: Flask, settings: Settings) -> Runtime:
    """Choose RQ (Redis reachable) or the embedded thread queue."""
    redis = connect_redis(settings.redis_url) if settings.redis_url else None
    if redis is not None:
        return Runtime(settings=settings, tasks=RQTaskQueue(redis, settings), redis=redis)
    return Runtime(settings=settings, tasks=ThreadTaskQueue(app))


def runtime(app: Flask | None = None) -> Runtime:
    return (app or current_app).extensions[EXTENSION_KEY]


def current_settings() -> Settings:
    return runtime().settings
