"""OpenTelemetry: one POST /api/refresh is one trace across the web process and a real RQ worker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infra import telemetry
from tests.conftest import WorkerProcesses, build_app, dispose_app, wait_for
from tests.gitrepos import RepoBuilder
from tests.infra.otlp_receiver import OtlpReceiver
from tests.refresh_helpers import wait_for_job
from tests.standin.server import GitHubStandIn


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver()
    yield server
    server.stop()


@pytest.fixture
def traced_config(rq_config: dict[str, str], receiver: OtlpReceiver) -> dict[str, str]:
    return {**rq_config, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_SERVICE_NAME": "pt-test",
            "LOG_FORMAT": "json"}  # fmt: skip


@pytest.fixture
def traced_app(traced_config: dict[str, str]) -> Iterator[Any]:
    application = build_app(traced_config)
    yield application
    dispose_app(application)
    telemetry.shutdown()


def test_off_by_default_span_is_a_no_op(app: Any) -> None:
    assert not telemetry.enabled()
    with telemetry.span("nothing", a=1):
        assert telemetry.carrier() == {}


def test_one_refresh_request_is_one_trace_across_web_and_worker(
    traced_app: Any, traced_config: dict[str, str], rq_workers: WorkerProcesses, receiver: OtlpReceiver,
    github: GitHubStandIn, make_repo: Any,
) -> None:  # fmt: skip
    repo: RepoBuilder = make_repo("traced")
    repo.write("main.py", "x = 1\n")
    repo.commit("one", at=datetime(2024, 6, 1, 12, 0, tzinfo=UTC))
    github.add_repo("traced", clone_url=repo.publish(), languages={"Python": 5})
    rq_workers.env.update(traced_config)
    rq_workers.start()
    client = traced_app.test_client()

    started = client.post("/api/refresh")
    assert started.status_code == 202
    job = wait_for_job(client, started.get_json()["job_id"], timeout=600)
    assert job["status"] == "completed", job
    telemetry.flush()

    def trace_of_request() -> list[Any]:
        spans = receiver.spans()
        roots = [s for s in spans if s.service == "pt-test" and s.name == "POST /api/refresh"]
        if not roots:
            return []
        mine = [s for s in spans if s.trace_id == roots[0].trace_id]
        names = {s.name for s in mine}
        wanted = {"job jobs.plan_refresh", "job jobs.refresh_repository", "GitHub GET", "refresh repository"}
        return mine if wanted <= names and any(n.startswith("exec git") for n in names) else []

    spans = wait_for(trace_of_request, timeout=600, message="the refresh's spans from web and worker")
    by_id = {s.span_id: s for s in spans}
    [root] = [s for s in spans if s.name == "POST /api/refresh"]
    [plan] = [s for s in spans if s.name == "job jobs.plan_refresh"]
    [repo_job] = [s for s in spans if s.name == "job jobs.refresh_repository"]
    assert root.parent_id == ""
    assert plan.attributes["messaging.message.id"] == f"plan-{job['id']}"
    # The plan job descends from the request; the repository job from the plan (queued inside it).
    assert _ancestors(plan, by_id)[-1] == root.span_id
    assert plan.span_id in _ancestors(repo_job, by_id)
    execs = {s.name for s in spans if s.name.startswith("exec ")}
    assert "exec cloc" in execs
    assert any(n.startswith("exec git ") for n in execs)
    for s in spans:
        if s.name.startswith("exec "):
            assert s.attributes["process.command"] == s.name.removeprefix("exec ")
            assert repo_job.span_id in _ancestors(s, by_id)
    github_calls = [s for s in spans if s.name == "GitHub GET"]
    assert {s.attributes["url.path"] for s in github_calls} >= {"/user/repos"}
    assert any(s.name.startswith("SELECT") or s.attributes.get("db.system") for s in spans)  # SQLAlchemy
    assert {s.service for s in spans}.pop() == "pt-test"

    records = [json.loads(line) for line in rq_workers.logs().splitlines() if line.startswith("{")]
    refreshed = [r for r in records if r["logger"] == "refresh.project"]
    assert refreshed, rq_workers.logs()
    for record in refreshed:
        assert record["trace_id"] == root.trace_id
        assert record["job_id"].startswith("repo-")
        assert isinstance(record["repository_id"], int)


def _ancestors(span: Any, by_id: dict[str, Any]) -> list[str]:
    chain = []
    while span.parent_id:
        chain.append(span.parent_id)
        if span.parent_id not in by_id:
            break
        span = by_id[span.parent_id]
    return chain


def test_log_format_json_is_validated(tmp_path: Path) -> None:
    from settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="LOG_FORMAT must be text or json"):
        Settings.from_mapping({"LOG_FORMAT": "xml", "INSTANCE_PATH": str(tmp_path)})
