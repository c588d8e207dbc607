"""Issue 12 part 2: GitHub webhooks, with real delivery bodies signed by the test, over real HTTP."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import http.client
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from infra.extensions import db
from models import DeletedRepository, Project, RepoUpdate, WebhookDelivery
from refresh.webhooks import MAX_BODY_BYTES, signature_ok
from tests.conftest import TEST_ADMIN_TOKEN
from tests.repo_helpers import add_project, count

SECRET = "webhook-secret-for-tests"
RECORDINGS = Path(__file__).resolve().parent.parent / "standin" / "recordings" / "webhooks"
CODERTOCAT_ID = 186853002  # repository.id in the Codertocat deliveries
OCTOCODERS_ID = 186853261  # repository.id in the Octocoders deliveries


def recording(name: str) -> dict[str, Any]:
    return json.loads((RECORDINGS / f"{name}.json").read_text())


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Hook:
    """Send deliveries to the app over HTTP on 127.0.0.1."""

    def __init__(self, port: int) -> None:
        self.port = port

    def send(
        self,
        event: str,
        body: bytes | dict[str, Any],
        *,
        delivery: str | None = None,
        signature: str | None = "sign",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/test", "X-GitHub-Event": event,
                "X-GitHub-Delivery": delivery or str(uuid.uuid4()), "X-GitHub-Hook-ID": "1"}  # fmt: skip
        if signature == "sign":
            sent["X-Hub-Signature-256"] = sign(raw)
        elif signature is not None:
            sent["X-Hub-Signature-256"] = signature
        sent.update(headers or {})
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request("POST", "/api/webhooks/github", body=raw, headers=sent)
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            connection.close()

    def get(self, path: str) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


def serve(app: Any) -> Iterator[Hook]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Hook(server.server_port)
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def hook_app(make_app: Any) -> Any:
    return make_app(WEBHOOK_SECRET=SECRET)


@pytest.fixture
def hook(hook_app: Any) -> Iterator[Hook]:
    yield from serve(hook_app)


def codertocat(app: Any, **values: Any) -> int:
    fields = {"github_id": CODERTOCAT_ID, "default_branch": "master", "metadata_checked_at": None, **values}
    return add_project(app, "Codertocat", "Hello-World", **fields)


def row(app: Any, project_id: int) -> Project | None:
    with app.app_context():
        project = db.session.get(Project, project_id)
        db.session.expunge_all()
        return project


def updates(app: Any, project_id: int) -> list[tuple[str, str | None, str | None]]:
    with app.app_context():
        rows = db.session.scalars(select(RepoUpdate).where(RepoUpdate.project_id == project_id).order_by(RepoUpdate.id))
        return [(r.update_type, r.old_value, r.new_value) for r in rows]


def test_github_published_test_vector() -> None:
    vector = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signature_ok("It's a Secret to Everybody", b"Hello, World!", vector)
    assert not signature_ok("It's a Secret to Everybody", b"Hello, World?", vector)
    assert not signature_ok("It's a Secret to Everybody", b"Hello, World!", vector[:-1] + "0")
    assert not signature_ok("It's a Secret to Everybody", b"Hello, World!", vector.replace("sha256=", "sha1="))
    assert not signature_ok("It's a Secret to Everybody", b"Hello, World!", None)


def test_vector_over_http_passes_the_signature_then_fails_parsing(make_app: Any) -> None:
    app = make_app(WEBHOOK_SECRET="It's a Secret to Everybody")
    for hook in serve(app):
        vector = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        status, body = hook.send("ping", b"Hello, World!", signature=vector)
        assert (status, body["code"]) == (400, "bad_request")  # signature accepted, body is not JSON
        status, _ = hook.send("ping", b"Hello, World?", signature=vector)
        assert status == 401


def test_without_secret_the_route_does_not_exist(app: Any) -> None:
    for hook in serve(app):
        body = json.dumps(recording("ping")).encode()
        status, _ = hook.send("ping", body, signature=sign(body))
        assert status == 404


def test_ping_answers_200(hook: Hook) -> None:
    status, body = hook.send("ping", recording("ping"))
    assert (status, body["outcome"], body["message"]) == (200, "pong", "pong")


def test_bad_or_missing_signature_is_401_and_changes_nothing(hook: Hook, hook_app: Any) -> None:
    project_id = codertocat(hook_app, stars=0)
    star = recording("star_created")
    raw = json.dumps(star).encode()
    assert hook.send("star", raw, signature=None)[0] == 401
    assert hook.send("star", raw, signature=sign(raw, "another-secret"))[0] == 401
    assert hook.send("star", raw, signature=sign(raw + b" "))[0] == 401
    status, body = hook.send("star", raw, signature="sha256=zz")
    assert (status, body["code"]) == (401, "unauthorized")
    assert SECRET not in json.dumps(body)
    assert row(hook_app, project_id).stars == 0
    assert count(hook_app, WebhookDelivery) == 0


def test_malformed_bodies_are_400(hook: Hook, hook_app: Any) -> None:
    for raw in (b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe"):
        status, body = hook.send("push", raw)
        assert (status, body["code"]) == (400, "bad_request"), raw
    no_repository = {k: v for k, v in recording("push_with-new-branch").items() if k != "repository"}
    assert hook.send("push", no_repository)[0] == 400
    assert hook.send("push", recording("ping"), headers={"X-GitHub-Delivery": ""})[0] == 400
    assert count(hook_app, WebhookDelivery) == 0  # a malformed delivery can be redelivered


def test_form_encoded_payload_is_accepted(hook: Hook) -> None:
    from urllib.parse import urlencode

    raw = urlencode({"payload": json.dumps(recording("ping"))}).encode()
    status, body = hook.send("ping", raw, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (status, body["outcome"]) == (200, "pong")


def test_announced_body_over_25_mb_is_413_before_reading(hook: Hook) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", hook.port, timeout=60)
    try:
        connection.putrequest("POST", "/api/webhooks/github")
        for name, value in (("Content-Type", "application/json"), ("X-GitHub-Event", "push"),
                            ("X-GitHub-Delivery", "big"), ("Content-Length", str(MAX_BODY_BYTES + 1))):  # fmt: skip
            connection.putheader(name, value)
        connection.endheaders()
        connection.send(b"{")
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["code"] == "payload_too_large"
    finally:
        connection.close()


def test_streamed_body_over_25_mb_is_413(hook: Hook) -> None:
    chunk = b" " * (1024 * 1024)

    def body() -> Iterator[bytes]:
        for _ in range(MAX_BODY_BYTES // len(chunk)):
            yield chunk
        yield b"  "  # one byte over the cap (+1)

    connection = http.client.HTTPConnection("127.0.0.1", hook.port, timeout=120)
    try:
        headers = {"Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": "big"}
        # The server may answer and close before the client has sent everything.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.request("POST", "/api/webhooks/github", body=body(), headers=headers, encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 413
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("name", "why"),
    [("push", "tag deleted"), ("release_published", "unused event")],
)
def test_deliveries_that_change_nothing_are_202_ignored(hook: Hook, hook_app: Any, name: str, why: str) -> None:
    codertocat(hook_app)
    status, body = hook.send(name.split("_")[0], recording(name))
    assert (status, body["outcome"]) == (202, "ignored"), why


def test_push_to_other_branch_or_deleting_default_or_untracked_is_ignored(hook: Hook, hook_app: Any) -> None:
    push = recording("push_with-new-branch")
    other = {**push, "ref": "refs/heads/feature"}
    deleted = {**push, "deleted": True, "after": "0" * 40}
    assert hook.send("push", push) == (
        202,
        {"outcome": "ignored", "message": "Repository is not tracked", "job_id": None},
    )
    project_id = codertocat(hook_app)
    for payload in (other, deleted):
        status, body = hook.send("push", payload)
        assert (status, body["outcome"]) == (202, "ignored")
    with hook_app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(RepoUpdate)) == 0
    assert row(hook_app, project_id).last_refreshed_at is None


def test_star_watch_fork_update_counts_and_history_without_github(hook: Hook, hook_app: Any, github: Any) -> None:
    # Counters in the recordings (stars, forks, watchers, open issues): star_created 1/0/1/2,
    # star_deleted 0/0/0/2, watch_started 1/0/1/2, fork 0/1/0/2 (the payload is the truth).
    project_id = codertocat(hook_app, stars=0, forks=0, watchers=0, open_issues=2)
    github.reset_log()
    assert hook.send("star", recording("star_created"))[1]["outcome"] == "updated"
    assert (row(hook_app, project_id).stars, row(hook_app, project_id).watchers) == (1, 1)
    assert hook.send("star", recording("star_deleted"))[0] == 200
    assert hook.send("watch", recording("watch_started"))[0] == 200
    assert hook.send("fork", recording("fork"))[0] == 200
    project = row(hook_app, project_id)
    assert (project.stars, project.forks, project.watchers, project.open_issues) == (0, 1, 0, 2)
    assert updates(hook_app, project_id) == [
        ("stars", "0", "1"), ("watchers", "0", "1"),
        ("stars", "1", "0"), ("watchers", "1", "0"),
        ("stars", "0", "1"), ("watchers", "0", "1"),
        ("stars", "1", "0"), ("forks", "0", "1"), ("watchers", "1", "0"),
    ]  # fmt: skip
    assert github.log == []
    status, series = hook.get(f"/api/repos/{project_id}/history/stars")
    assert status == 200
    assert [p["value"] for p in json.loads(series)["points"]] == [0, 1, 0, 1, 0]


def test_redelivery_is_handled_once(hook: Hook, hook_app: Any) -> None:
    project_id = codertocat(hook_app, stars=0, open_issues=2)
    first = hook.send("star", recording("star_created"), delivery="d-1")
    again = hook.send("star", recording("star_created"), delivery="d-1")
    assert first == (200, {"outcome": "updated", "message": "2 counter(s) changed", "job_id": None})
    assert again == (200, {"outcome": "duplicate", "message": "This delivery was already handled", "job_id": None})
    assert [u[0] for u in updates(hook_app, project_id)] == ["stars", "watchers"]


def test_repository_renamed_transferred_edited_follow_at_once(hook: Hook, hook_app: Any, github: Any) -> None:
    project_id = add_project(hook_app, "Octocoders", "Old-Name", github_id=OCTOCODERS_ID, default_branch="master")
    github.reset_log()
    renamed = recording("repository_renamed")
    assert hook.send("repository", renamed)[1]["outcome"] == "updated"
    assert row(hook_app, project_id).full_name == "Octocoders/Hello-World"
    transferred = copy.deepcopy(recording("repository_transferred"))
    transferred["repository"]["owner"]["login"] = "New-Owner"
    assert hook.send("repository", transferred)[0] == 200
    edited = copy.deepcopy(recording("repository_edited"))
    edited["repository"]["owner"]["login"] = "New-Owner"
    edited["repository"]["description"] = "Edited on GitHub"
    assert hook.send("repository", edited)[0] == 200
    project = row(hook_app, project_id)
    assert (project.owner, project.name, project.description) == ("New-Owner", "Hello-World", "Edited on GitHub")
    assert github.log == []


def test_privatized_publicized_archived_follow_at_once(hook: Hook, hook_app: Any) -> None:
    project_id = codertocat(hook_app, private=False)
    client = hook_app.test_client()
    assert hook.send("repository", recording("repository_privatized"))[0] == 200
    assert row(hook_app, project_id).private is True
    # Private now: anonymous readers no longer see it at all; the admin token sees it as private.
    assert client.get(f"/api/repos/{project_id}").status_code == 404
    admin = {"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"}
    assert client.get(f"/api/repos/{project_id}", headers=admin).get_json()["private"] is True
    assert hook.send("repository", recording("repository_publicized"))[0] == 200
    assert row(hook_app, project_id).private is False
    assert client.get(f"/api/repos/{project_id}").get_json()["private"] is False
    archived = copy.deepcopy(recording("repository_publicized"))
    archived["action"], archived["repository"]["archived"] = "archived", True
    assert hook.send("repository", archived)[0] == 200
    assert row(hook_app, project_id).archived is True
    unarchived = copy.deepcopy(archived)
    unarchived["action"], unarchived["repository"]["archived"] = "unarchived", False
    assert hook.send("repository", unarchived)[0] == 200
    assert row(hook_app, project_id).archived is False


def test_repository_deleted_stops_tracking(hook: Hook, hook_app: Any) -> None:
    project_id = codertocat(hook_app)
    deleted = {**recording("repository_publicized"), "action": "deleted"}
    status, body = hook.send("repository", deleted)
    assert (status, body["outcome"]) == (200, "deleted")
    assert row(hook_app, project_id) is None
    assert count(hook_app, DeletedRepository) == 1
    assert hook.send("repository", {**deleted, "action": "created"})[1]["outcome"] == "ignored"


def test_outcomes_are_counted_for_prometheus_and_secret_never_logged(
    hook: Hook, hook_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    codertocat(hook_app)
    hook.send("ping", recording("ping"))
    hook.send("ping", recording("ping"))
    hook.send("star", recording("star_created"), signature=None)
    hook.send("release", recording("release_published"))
    hook.send("push", b"nope")
    status, text = hook.get("/metrics")
    assert status == 200
    lines = {line for line in text.decode().splitlines() if line.startswith("project_tracker_webhook_deliveries_total")}
    assert lines == {
        'project_tracker_webhook_deliveries_total{event="ping",outcome="pong"} 2.0',
        'project_tracker_webhook_deliveries_total{event="star",outcome="bad_signature"} 1.0',
        'project_tracker_webhook_deliveries_total{event="other",outcome="ignored"} 1.0',
        'project_tracker_webhook_deliveries_total{event="push",outcome="malformed"} 1.0',
    }
    assert SECRET not in caplog.text
