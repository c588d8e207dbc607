"""Run an RQ worker that executes refresh jobs inside the app (Procfile `worker`)."""

from __future__ import annotations

import argparse
import logging
import sys

from rq import Queue, SimpleWorker
from rq.worker import HerokuWorker

from analysis.loc import start_cloc
from app import create_app
from infra.runtime import runtime
from infra.tasks import QUEUE_NAME
from jobs import set_process_app
from refresh.project import child_limits

log = logging.getLogger("worker")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Project Tracker RQ worker")
    parser.add_argument("--burst", action="store_true", help="Exit when the queue is empty.")
    parser.add_argument("--simple", action="store_true", help="Run jobs in this process (no fork).")
    parser.add_argument("--name", default=None, help="Worker name (default: RQ's).")
    parser.add_argument("--maintenance-interval", type=int, default=60, help="Seconds between registry clean-ups.")
    parser.add_argument("--job-monitoring-interval", type=int, default=10, help="Seconds between heartbeats.")
    # An idle worker waits for a job up to (worker TTL - 15) s before it runs maintenance, which is
    # what re-queues the jobs of a dead worker; RQ's default (420 s) would leave them for 7 minutes.
    parser.add_argument("--worker-ttl", type=int, default=60, help="Seconds a silent worker counts as alive.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Work the queue until SIGTERM (HerokuWorker: the running job is stopped and retried)."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    app = create_app()
    set_process_app(app)
    redis = runtime(app).redis
    if redis is None:
        log.error("the worker needs REDIS_URL (a reachable Redis)")
        return 2
    if not args.simple:
        # Each job runs in a forked work-horse: compile cloc once here, for all of them.
        settings = runtime(app).settings
        start_cloc(settings.cloc_path, limits=child_limits(settings), max_bytes=settings.large_file_bytes, shared=True)
    worker_class = SimpleWorker if args.simple else HerokuWorker
    worker = worker_class(
        [Queue(QUEUE_NAME, connection=redis)],
        connection=redis,
        name=args.name,
        maintenance_interval=args.maintenance_interval,
        job_monitoring_interval=args.job_monitoring_interval,
        worker_ttl=args.worker_ttl,
    )
    worker.work(burst=args.burst, with_scheduler=False, logging_level=logging.getLevelName(logging.INFO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
