"""Issue 12 part 2: signed push webhooks start (or join) real refreshes that update /api/projects."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from infra.extensions import db
from models import RefreshJob, RefreshJobItem
from tests.api.test_webhooks import SECRET, Hook, recording, serve
from tests.conftest import build_app, dispose_app, wait_for
from tests.refresh_helpers import projects_by_name, wait_for_job
from tests.repo_helpers import settled
from tests.standin.faults import hold


@pytest.fixture
def hook_app(make_app: Any) -> Any:
    return make_app(WEBHOOK_SECRET=SECRET)


@pytest.fixture
def hook(hook_app: Any) -> Iterator[Hook]:
    yield from serve(hook_app)


@pytest.mark.slow
def test_signed_push_burst_is_one_refresh_and_updates_projects(
    rq_config: dict[str, str], rq_workers: Any, github: Any, make_repo: Any
) -> None:
    repo = make_repo("sample")
    for i in range(3):
        repo.write("main.py", f"x = {i}\n")
        repo.commit(f"step {i}", at=datetime(2024, 6, 1 + i, 12, 0, tzinfo=UTC))
    remote = github.add_repo("sample", clone_url=repo.publish(), languages={"Python": 10})
    app = build_app({**rq_config, "WEBHOOK_SECRET": SECRET})
    try:
        client = app.test_client()
        rq_workers.start()
        first = wait_for_job(client, client.post("/api/refresh").get_json()["job_id"], timeout=600)
        assert first["status"] == "completed"
        assert projects_by_name(client)["sample"]["commits"] == 3
        rq_workers.stop()  # no worker: the pushes below find the refresh they start still queued

        for i in (3, 4):
            repo.write("main.py", f"x = {i}\n")
            repo.commit(f"step {i}", at=datetime(2024, 6, 1 + i, 12, 0, tzinfo=UTC))
        repo.publish()
        push = copy.deepcopy(recording("push_with-new-branch"))
        push["ref"], push["after"] = "refs/heads/main", repo.head()
        push["repository"].update(id=remote.id, name="sample", full_name="octo-owner/sample", default_branch="main")
        push["repository"]["owner"].update(login="octo-owner", name="octo-owner")
        answers = []
        for hook in serve(app):
            answers = [hook.send("push", push) for _ in range(3)]
        assert [(status, body["outcome"]) for status, body in answers] == [
            (202, "queued"), (202, "coalesced"), (202, "coalesced")
        ]  # fmt: skip
        job_ids = {body["job_id"] for _, body in answers}
        assert len(job_ids) == 1

        rq_workers.start()
        done = wait_for_job(client, job_ids.pop(), timeout=600)
        assert (done["status"], done["trigger"], done["scope"]) == ("completed", "webhook", "repo")
        assert projects_by_name(client)["sample"]["commits"] == 5
        assert "Traceback" not in rq_workers.logs()
        assert SECRET not in rq_workers.logs()
    finally:
        dispose_app(app)


def sample_push(repo: Any, remote: Any) -> dict[str, Any]:
    push = copy.deepcopy(recording("push_with-new-branch"))
    push["ref"], push["after"] = "refs/heads/main", repo.head()
    push["repository"].update(id=remote.id, name="sample", full_name="octo-owner/sample", default_branch="main")
    push["repository"]["owner"].update(login="octo-owner", name="octo-owner")
    return push


@pytest.mark.slow
def test_push_during_a_running_refresh_is_followed_by_another(
    hook: Hook, hook_app: Any, github: Any, make_repo: Any
) -> None:
    repo = make_repo("sample")
    for i in range(3):
        repo.write("main.py", f"x = {i}\n")
        repo.commit(f"step {i}", at=datetime(2024, 6, 1 + i, 12, 0, tzinfo=UTC))
    remote = github.add_repo("sample", clone_url=repo.publish(), languages={"Python": 10})
    client = hook_app.test_client()
    assert wait_for_job(client, client.post("/api/refresh").get_json()["job_id"])["status"] == "completed"
    # The next refresh is held inside its languages call: on PostgreSQL after it has read the new
    # commits, so with whatever it changed of the project still uncommitted.
    languages, gate = "/repos/octo-owner/sample/languages", threading.Event()
    github.inject(languages, hold(gate, limit=30))
    asked = len(github.calls(languages))

    repo.write("main.py", "x = 3\n")
    repo.commit("step 3", at=datetime(2024, 6, 4, 12, 0, tzinfo=UTC))
    repo.publish()
    status, first = hook.send("push", sample_push(repo, remote))
    assert (status, first["outcome"]) == (202, "queued")
    wait_for(lambda: len(github.calls(languages)) > asked, timeout=120, message="the refresh to ask for languages")
    assert item_status(hook_app, first["job_id"]) == "running"
    repo.write("main.py", "x = 4\n")
    repo.commit("step 4", at=datetime(2024, 6, 5, 12, 0, tzinfo=UTC))
    repo.publish()
    # The delivery is answered at once, not after the refresh commits: the project's row is not
    # locked by the running refresh (if it were, this push would wait and join a later refresh).
    status, second = hook.send("push", sample_push(repo, remote))
    held = projects_by_name(client)["sample"]["commits"]
    gate.set()
    assert held == 3  # answered while the refresh of step 3 was still held
    assert (status, second["outcome"], second["job_id"]) == (202, "coalesced", first["job_id"])

    assert wait_for_job(client, first["job_id"], timeout=600)["status"] == "completed"
    wait_for(lambda: projects_by_name(client)["sample"]["commits"] == 5, timeout=600, message="5 commits")
    settled(client)
    with hook_app.app_context():
        webhook_jobs = db.session.scalars(select(RefreshJob.status).where(RefreshJob.trigger == "webhook")).all()
    assert webhook_jobs == ["completed", "completed"]


def item_status(app: Any, job_id: str) -> str | None:
    with app.app_context():
        return db.session.scalar(select(RefreshJobItem.status).where(RefreshJobItem.job_id == job_id))
