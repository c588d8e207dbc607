"""Refresh job lifecycle: real RQ worker processes on real Redis, and the embedded thread."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from infra.extensions import db
from models import ITEM_PENDING, JOB_RUNNING, Project, RefreshJob, RefreshJobItem, full_name_key, utcnow
from tests.conftest import wait_for
from tests.refresh.test_refresh import publish_simple
from tests.refresh_helpers import projects_by_name, wait_for_job
from tests.standin.faults import delay
from tests.standin.server import GitHubStandIn


def add_repos(github: GitHubStandIn, make_repo: Any, names: list[str]) -> None:
    for name in names:
        github.add_repo(name, clone_url=publish_simple(make_repo, name).publish(), languages={"Python": 10})


def observe(client: Any, job_id: str, timeout: float = 120.0) -> list[tuple[str, float, int]]:
    """Poll a job's status until it ends; return every (status, progress, processed) seen."""
    seen: list[tuple[str, float, int]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/refresh/status/{job_id}").get_json()
        state = (body["status"], body["progress"], body["repositories_processed"])
        if not seen or seen[-1] != state:
            seen.append(state)
        if body["status"] in ("completed", "failed"):
            return seen
        time.sleep(0.02)
    raise AssertionError(f"job did not end: {seen}")


def concurrent_posts(app: Any, count: int) -> list[str]:
    """POST /api/refresh from `count` threads at once; return the job ids they got."""
    barrier = threading.Barrier(count)
    ids: list[str] = []

    def post() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post("/api/refresh")
        assert response.status_code == 202
        ids.append(response.get_json()["job_id"])

    threads = [threading.Thread(target=post) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ids


def assert_lifecycle(seen: list[tuple[str, float, int]], total: int) -> None:
    statuses = [s for s, _, _ in seen]
    assert statuses[0] == "queued"
    assert "running" in statuses
    assert statuses[-1] == "completed"
    progress = [p for _, p, _ in seen]
    assert progress == sorted(progress), seen
    assert any(0 < p < 100 for p in progress), seen
    assert seen[-1][1:] == (100.0, total)


@pytest.mark.slow
def test_rq_worker_runs_the_job_through_its_lifecycle(
    rq_app: Any, rq_workers: Any, github: GitHubStandIn, make_repo: Any
) -> None:
    add_repos(github, make_repo, ["one", "two", "three"])
    github.inject("/repos/octo-owner/two/languages", delay(1.5))
    client = rq_app.test_client()

    ids = concurrent_posts(rq_app, 5)
    assert len(set(ids)) == 1
    job_id = ids[0]
    assert client.get(f"/api/refresh/status/{job_id}").get_json()["status"] == "queued"  # no worker yet
    rq_workers.start()
    seen = observe(client, job_id)

    assert_lifecycle(seen, 3)
    with rq_app.app_context():
        assert db.session.scalar(db.select(db.func.count(RefreshJob.id))) == 1
    assert {n: p["commits"] for n, p in projects_by_name(client).items()} == {"one": 3, "two": 3, "three": 3}
    assert "Traceback" not in rq_workers.logs()
    assert github.token not in rq_workers.logs()


@pytest.mark.sqlite
def test_embedded_thread_runs_the_job_and_dedupes(app: Any, github: GitHubStandIn, make_repo: Any) -> None:
    add_repos(github, make_repo, ["one", "two", "three"])
    github.inject("/repos/octo-owner/one/languages", delay(1.0))
    client = app.test_client()

    ids = concurrent_posts(app, 4)
    assert len(set(ids)) == 1
    seen = observe(client, ids[0])

    assert seen[-1][0] == "completed" and seen[-1][1:] == (100.0, 3)
    assert [p for _, p, _ in seen] == sorted(p for _, p, _ in seen)
    again = client.post("/api/refresh")
    assert again.get_json()["outcome"] == "started"  # REFRESH_COOLDOWN is 0 in tests
    assert again.get_json()["job_id"] != ids[0]
    wait_for_job(client, again.get_json()["job_id"])


def test_cooldown_returns_the_recent_job_and_force_needs_the_admin_token(
    config: dict[str, str], github: GitHubStandIn
) -> None:
    from tests.conftest import build_app, dispose_app

    app = build_app({**config, "REFRESH_COOLDOWN": "300", "ADMIN_TOKEN": "admin-secret-123"})
    try:
        client = app.test_client()
        first = client.post("/api/refresh").get_json()
        done = wait_for_job(client, first["job_id"])
        assert done["status"] == "completed"
        recent = client.post("/api/refresh").get_json()
        assert (recent["job_id"], recent["outcome"], recent["status"]) == (first["job_id"], "recent", "completed")
        refused = client.post("/api/refresh?force=1")
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        forced = client.post("/api/refresh?force=1", headers={"Authorization": "Bearer admin-secret-123"})
        assert forced.status_code == 202
        assert forced.get_json()["outcome"] == "started"
        assert forced.get_json()["job_id"] != first["job_id"]
        wait_for_job(client, forced.get_json()["job_id"])
    finally:
        dispose_app(app)


def stale_job(app: Any, github: GitHubStandIn, make_repo: Any, attempts: int) -> str:
    """Store a running job whose worker vanished: one pending item, no heartbeat for an hour."""
    add_repos(github, make_repo, ["lost"])
    with app.app_context():
        served = github.repo("octo-owner/lost")
        project = Project(owner="octo-owner", name="lost", full_name_key=full_name_key("octo-owner", "lost"),
                          github_id=served.id, clone_url=served.clone_url)  # fmt: skip
        db.session.add(project)
        db.session.flush()
        long_ago = utcnow() - timedelta(hours=1)
        job = RefreshJob(status=JOB_RUNNING, active_key="all", started_at=long_ago, heartbeat_at=long_ago,
                         total_repositories=1, attempts=1)  # fmt: skip
        db.session.add(job)
        db.session.flush()
        db.session.add(RefreshJobItem(job_id=job.id, project_id=project.id, repository="octo-owner/lost",
                                      status=ITEM_PENDING, attempts=attempts))  # fmt: skip
        db.session.commit()
        return job.id


@pytest.mark.sqlite
def test_stale_job_is_resumed_by_the_reaper(app: Any, runner: Any, github: GitHubStandIn, make_repo: Any) -> None:
    job_id = stale_job(app, github, make_repo, attempts=0)
    result = runner.invoke(args=["reap"])
    assert result.output.strip() == "done", result.exception
    body = wait_for_job(app.test_client(), job_id)
    assert body["status"] == "completed"
    assert projects_by_name(app.test_client())["lost"]["commits"] == 3


def test_stale_job_out_of_retries_fails_clearly(app: Any, github: GitHubStandIn, make_repo: Any) -> None:
    job_id = stale_job(app, github, make_repo, attempts=3)
    # A new POST reaps first, then starts a fresh job: the lost one no longer blocks refreshes.
    started = app.test_client().post("/api/refresh").get_json()
    assert started["outcome"] == "started"
    lost = app.test_client().get(f"/api/refresh/status/{job_id}").get_json()
    assert lost["status"] == "completed"
    assert lost["errors"] == [
        {"repository": "octo-owner/lost", "error": "The repository job was lost by its worker", "status": "failed"}
    ]
    wait_for_job(app.test_client(), started["job_id"])


def descendants(pid: int) -> list[int]:
    """Return the pids of every process below `pid` (RQ's work-horse runs in a session of its own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def project_id(app: Any, name: str) -> int | None:
    with app.app_context():
        try:
            return db.session.scalar(db.select(Project.id).where(Project.name == name))
        finally:
            db.session.remove()


def worker_holding(redis_url: str, job_id: str) -> str | None:
    """Return the name of the RQ worker executing `job_id`, if any."""
    from redis import Redis
    from rq import Worker

    for worker in Worker.all(connection=Redis.from_url(redis_url)):
        job = worker.get_current_job()
        if job is not None and job.id == job_id:
            return worker.name
    return None


@pytest.mark.slow
def test_sigkilled_worker_mid_refresh_is_recovered(
    rq_app: Any, rq_workers: Any, redis_url: str, github: GitHubStandIn, make_repo: Any
) -> None:
    add_repos(github, make_repo, ["a", "b", "c", "d"])
    # c's first answer waits until the stand-in stops: c is mid-refresh when its worker dies, however slow
    # the machine (the fault answers once: the retry on the survivor gets the normal answer).
    github.inject("/repos/octo-owner/c/languages", delay(3600))
    rq_workers.env["GITHUB_READ_TIMEOUT"] = "3600"  # nor may the client give up on it and retry meanwhile
    first = rq_workers.start(new_session=True)
    second = rq_workers.start(new_session=True)
    client = rq_app.test_client()
    job_id = client.post("/api/refresh").get_json()["job_id"]
    c_id = wait_for(lambda: project_id(rq_app, "c"), timeout=600, message="project c to be discovered")
    holder = wait_for(lambda: worker_holding(redis_url, f"repo-{c_id}"), timeout=600, message="c to start")  # fmt: skip
    languages = "/repos/octo-owner/c/languages"
    wait_for(lambda: any(c.fault for c in github.calls(languages)), timeout=600, message="c's held answer")
    victim = first if holder.endswith("-0") else second
    for pid in [victim.pid, *descendants(victim.pid)]:  # the worker and its work-horse: a machine dies
        os.kill(pid, signal.SIGKILL)

    body = wait_for_job(client, job_id, timeout=600)

    assert body["status"] == "completed", body
    # c ran again on the survivor. Two recovery paths may win the race, and either is right: RQ
    # finds the job abandoned and retries it (one retry used), or the stale-job reaper re-queues a
    # fresh job (no retry used). The invariant: c's part of the refresh ended done, with no error.
    from redis import Redis
    from rq.job import Job

    from infra.tasks import MAX_RETRIES

    retried = Job.fetch(f"repo-{c_id}", connection=Redis.from_url(redis_url))
    assert retried.retries_left in (MAX_RETRIES, MAX_RETRIES - 1)
    logs = rq_workers.logs()
    assert "enqueued for retry" in logs or "re-queueing lost repository job" in logs
    with rq_app.app_context():
        from infra.extensions import db
        from models import RefreshJobItem

        item = db.session.scalars(db.select(RefreshJobItem).where(RefreshJobItem.project_id == c_id)).one()
        assert (item.status, item.error, item.attempts >= 1) == ("done", None, True)
    assert body["repositories_processed"] == 4
    assert body["repositories_failed"] == 0
    assert {n: p["commits"] for n, p in projects_by_name(client).items()} == {"a": 3, "b": 3, "c": 3, "d": 3}


@pytest.mark.slow
def test_sigterm_stops_a_worker_cleanly_and_its_job_is_retried(
    rq_app: Any, rq_workers: Any, redis_url: str, github: GitHubStandIn, make_repo: Any
) -> None:
    add_repos(github, make_repo, ["slow"])
    # One answer that waits until the stand-in stops, far over HerokuWorker's 6 s grace: SIGTERM
    # arrives while the job waits on it, however slow the machine (the retry gets the normal answer).
    github.inject("/repos/octo-owner/slow/languages", delay(3600))
    rq_workers.env["GITHUB_READ_TIMEOUT"] = "3600"  # nor may the client give up on it and retry meanwhile
    first = rq_workers.start()
    client = rq_app.test_client()
    job_id = client.post("/api/refresh").get_json()["job_id"]
    slow_id = wait_for(lambda: project_id(rq_app, "slow"), timeout=600, message="project slow")
    wait_for(lambda: worker_holding(redis_url, f"repo-{slow_id}"), timeout=600, message="slow to start")
    languages = "/repos/octo-owner/slow/languages"
    wait_for(lambda: any(c.fault for c in github.calls(languages)), timeout=600, message="the slow answer")

    first.send_signal(signal.SIGTERM)  # what Heroku sends a dyno before it stops

    assert first.wait(timeout=300) == 0
    assert client.get(f"/api/refresh/status/{job_id}").get_json()["status"] == "running"  # not recorded as failed
    rq_workers.start()
    body = wait_for_job(client, job_id, timeout=600)
    assert (body["status"], body["repositories_failed"], body["errors"]) == ("completed", 0, [])
    assert "warm shut down requested" in rq_workers.logs()


@pytest.mark.slow
def test_a_repository_over_the_job_timeout_is_recorded(
    rq_config: dict[str, str], rq_workers: Any, github: GitHubStandIn, make_repo: Any
) -> None:
    from tests.conftest import build_app, dispose_app

    add_repos(github, make_repo, ["stuck", "quick"])
    # "stuck" waits until the stand-in stops: over the limit however fast or slow the machine is.
    github.inject("/repos/octo-owner/stuck/languages", delay(3600))
    rq_workers.env["JOB_TIMEOUT_SECONDS"] = "3"
    app = build_app({**rq_config, "JOB_TIMEOUT_SECONDS": "3"})
    try:
        rq_workers.start()
        client = app.test_client()
        body = wait_for_job(client, client.post("/api/refresh").get_json()["job_id"], timeout=600)
        assert (body["status"], body["repositories_processed"]) == ("completed", 2)
        timed_out = {"status": "failed", "error": "The refresh took longer than JOB_TIMEOUT_SECONDS (3 s)"}
        assert {"repository": "octo-owner/stuck", **timed_out} in body["errors"]
        # "quick" finishes within 3 s on an idle machine; on a saturated one it may time out the same way.
        assert all(e == {"repository": e["repository"], **timed_out} for e in body["errors"]), body["errors"]
        assert body["repositories_failed"] == len(body["errors"])
    finally:
        dispose_app(app)
