"""The scheduler: due refreshes, one tick across clock instances (Redis lock), the clock process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import scheduler
from infra.extensions import db
from models import JOB_COMPLETED, RefreshJob, utcnow
from tests.conftest import ROOT, build_app, dispose_app, wait_for
from tests.standin.server import GitHubStandIn


def count_jobs(app: Any) -> list[RefreshJob]:
    with app.app_context():
        try:
            jobs = list(db.session.scalars(db.select(RefreshJob)))
            db.session.expunge_all()
            return jobs
        finally:
            db.session.remove()


def test_tick_lock_is_taken_once_per_period(rq_config: dict[str, str]) -> None:
    first, second = build_app(rq_config), build_app(rq_config)
    try:
        with first.app_context():
            # A period far longer than the two calls can take even on a saturated machine.
            assert scheduler.acquire_tick("probe", 5) is True
        with second.app_context():
            assert scheduler.acquire_tick("probe", 5) is False
        wait_for(lambda: _tick(second, "probe", 5), timeout=600, message="the tick lock to expire")
    finally:
        dispose_app(first)
        dispose_app(second)


def _tick(app: Any, name: str, period: float) -> bool:
    with app.app_context():
        return scheduler.acquire_tick(name, period)


def test_two_clock_instances_fire_one_scheduled_refresh(rq_config: dict[str, str]) -> None:
    clocks = [build_app(rq_config) for _ in range(3)]
    barrier = threading.Barrier(len(clocks))

    def tick(app: Any) -> None:
        with app.app_context():
            barrier.wait()
            scheduler.scheduled_refresh()

    try:
        threads = [threading.Thread(target=tick, args=(app,)) for app in clocks]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        jobs = count_jobs(clocks[0])
        assert [(j.trigger, j.status) for j in jobs] == [("schedule", "queued")]
    finally:
        for app in clocks:
            dispose_app(app)


@pytest.mark.sqlite
def test_scheduled_refresh_runs_only_when_due(app: Any) -> None:
    with app.app_context():
        recent = RefreshJob(status=JOB_COMPLETED, scope="all", completed_at=utcnow() - timedelta(hours=1))
        db.session.add(recent)
        db.session.commit()
        scheduler.scheduled_refresh()
        assert db.session.scalar(db.select(db.func.count(RefreshJob.id))) == 1
        recent.completed_at = utcnow() - timedelta(hours=25)
        db.session.commit()
        scheduler.scheduled_refresh()
        triggers = sorted(j.trigger for j in db.session.scalars(db.select(RefreshJob)))
    assert triggers == ["api", "schedule"]


def test_scheduled_refresh_needs_a_token(config: dict[str, str]) -> None:
    app = build_app({**config, "GITHUB_ACCESS_TOKEN": ""})
    try:
        with app.app_context():
            scheduler.scheduled_refresh()
        assert count_jobs(app) == []
    finally:
        dispose_app(app)


@pytest.mark.slow
def test_clock_processes_enqueue_one_refresh(
    rq_config: dict[str, str], rq_app: Any, github: GitHubStandIn, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(rq_config)
    logs = [open(tmp_path / f"clock-{i}.log", "wb") for i in range(2)]  # noqa: SIM115 - closed below
    clocks = [subprocess.Popen([sys.executable, "clock.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
              for log in logs]  # fmt: skip
    try:
        job = wait_for(lambda: count_jobs(rq_app), timeout=600, message="a scheduled refresh")
        paths = [tmp_path / "clock-0.log", tmp_path / "clock-1.log"]
        wait_for(lambda: all(b"scheduled refresh" in p.read_bytes() for p in paths), timeout=600, message="two ticks")
        texts = [p.read_text() for p in paths]
        assert sum("scheduled refresh started" in t for t in texts) == 1, texts
        assert sum("another instance took this tick" in t for t in texts) == 1, texts
        assert [(j.trigger, j.status) for j in count_jobs(rq_app)] == [("schedule", "queued")]
        assert job[0].trigger == "schedule"
    finally:
        for clock in clocks:
            clock.terminate()
            clock.wait(timeout=15)
        for log in logs:
            log.close()
