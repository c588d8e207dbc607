"""Run the `clock` process: the scheduler that enqueues refreshes onto RQ (Procfile `clock`)."""

from __future__ import annotations

import logging
import signal
import sys

from apscheduler.schedulers.blocking import BlockingScheduler

from app import create_app
from infra.runtime import runtime
from scheduler import add_jobs

log = logging.getLogger("clock")


def main() -> int:
    """Schedule periodic work until SIGTERM."""
    app = create_app()
    if runtime(app).redis is None:
        log.error("the clock process needs REDIS_URL (a reachable Redis) to enqueue work")
        return 2
    scheduler = BlockingScheduler(timezone="UTC")
    add_jobs(scheduler, app)
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=False))
    log.info("clock started")
    scheduler.start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
