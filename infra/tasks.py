"""Run background work on RQ (with REDIS_URL) or in a thread of the web process (embedded).

Both queues take a job function by its dotted name and an explicit job id: a job id that is
already queued or running is not enqueued again, so one repository is never refreshed twice
at once, whichever process asks.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from infra import telemetry
from settings import Settings

log = logging.getLogger(__name__)

QUEUE_NAME = "project-tracker"
ACTIVE_RQ_STATUSES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
# A job that dies with its worker (SIGKILL, dyno restart) is retried by RQ's abandoned-job
# handling, at once: a retry with an interval would wait for an RQ scheduler, whose lock may have
# died with the same worker.
MAX_RETRIES = 2


def resolve(func_name: str) -> Callable[..., Any]:
    """Import `module.function` by name."""
    module_name, _, attr = func_name.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


class TaskQueue(Protocol):
    """Where background jobs go."""

    in_process: bool  # jobs die with this process (a `flask` command must wait for them)

    def enqueue(self, func_name: str, *args: Any, job_id: str, retry: bool = True) -> bool:
        """Queue a job unless one with the same id is queued or running; True if queued."""
        ...

    def is_active(self, job_id: str) -> bool:
        """Tell whether a job with this id is queued or running."""
        ...

    def describe(self) -> dict[str, Any]:
        """Return what /api/health says about the queue."""
        ...


class RQTaskQueue:
    """Jobs on an RQ queue in Redis, run by `python worker.py` processes anywhere."""

    in_process = False

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.queue = Queue(QUEUE_NAME, connection=redis, default_timeout=settings.job_timeout_seconds)

    def is_active(self, job_id: str) -> bool:
        try:
            job = Job.fetch(job_id, connection=self.redis)
        except NoSuchJobError:
            return False
        return job.get_status(refresh=False) in ACTIVE_RQ_STATUSES

    def enqueue(self, func_name: str, *args: Any, job_id: str, retry: bool = True) -> bool:
        # The lock makes check-then-enqueue atomic across web and clock processes.
        with self.redis.lock(f"pt:enqueue:{job_id}", timeout=10, blocking_timeout=10):
            if self.is_active(job_id):
                return False
            self.queue.enqueue(
                func_name,
                *args,
                job_id=job_id,
                retry=Retry(max=MAX_RETRIES) if retry else None,
                result_ttl=3600,
                failure_ttl=7 * 24 * 3600,
                meta={"otel": telemetry.carrier()},
            )
        return True

    def describe(self) -> dict[str, Any]:
        try:
            return {"mode": "rq", "queue": QUEUE_NAME, "queued_jobs": self.queue.count}
        except RedisError as exc:
            return {"mode": "rq", "queue": QUEUE_NAME, "error": f"Redis unreachable ({type(exc).__name__})"}


class ThreadTaskQueue:
    """Jobs on a thread pool inside the web process (the embedded default, no Redis)."""

    in_process = True

    def __init__(self, app: Flask, workers: int = 2) -> None:
        self.app = app
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pt-job")
        self.lock = threading.Lock()
        self.active: set[str] = set()

    def is_active(self, job_id: str) -> bool:
        with self.lock:
            return job_id in self.active

    def enqueue(self, func_name: str, *args: Any, job_id: str, retry: bool = True) -> bool:
        with self.lock:
            if job_id in self.active:
                return False
            self.active.add(job_id)
        self.pool.submit(self._run, func_name, args, job_id, telemetry.carrier())
        return True

    def _run(self, func_name: str, args: tuple[Any, ...], job_id: str, parent: dict[str, str]) -> None:
        try:
            with self.app.app_context(), telemetry.job_span(func_name, job_id, parent):
                resolve(func_name)(*args)
        except Exception:
            log.exception("background job %s failed", job_id)
        finally:
            with self.lock:
                self.active.discard(job_id)

    def is_busy(self) -> bool:
        """Tell whether any job is queued or running."""
        with self.lock:
            return bool(self.active)

    def describe(self) -> dict[str, Any]:
        with self.lock:
            running = len(self.active)
        return {"mode": "embedded", "active_jobs": running}

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
