"""Gunicorn settings for `make run` and the Heroku web dyno (`gunicorn -c gunicorn.conf.py app:app`)."""

import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '5001')}"  # noqa: S104 - a server binds
# The embedded default (no REDIS_URL) runs jobs and the scheduler inside the web process: one worker.
workers = int(os.environ.get("WEB_CONCURRENCY", "2" if os.environ.get("REDIS_URL") else "1"))
threads = int(os.environ.get("WEB_THREADS", "8"))
timeout = 60
accesslog = "-"


def post_worker_init(worker):
    """Start what the embedded default runs in-process (migrations on SQLite, scheduler)."""
    from app import start_embedded_services

    start_embedded_services(worker.wsgi)
