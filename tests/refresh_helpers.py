"""Helpers and fixtures for refresh tests: expected metrics computed without the code under test."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from analysis.metrics import LAST_FINISHED_FORMAT
from tests.fixtures_git import EXCLUDED_DIRS, SampleHistory
from tests.gitexpect import (
    ScriptedCommit,
    expected_active_days,
    expected_churn,
    expected_commits,
    expected_time_spent_minutes,
)
from tests.gitrepos import clone_checkout
from tests.standin.gitlab import GitLabStandIn
from tests.standin.server import GitHubStandIn

ADMIN = {"Authorization": "Bearer suite-admin-token"}  # the suite's admin token (tests/conftest.py)


def cloc_of_checkout(url: str, dest: Path) -> tuple[int, dict[str, int]]:
    """Run the real cloc on a fresh checkout of `url`; return (code lines, code per language)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    checkout = clone_checkout(url, dest)
    out = subprocess.run(
        ["cloc", "--json", "--quiet", f"--exclude-dir={','.join(EXCLUDED_DIRS)}", str(checkout)],
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    if not out.stdout.strip():
        return 0, {}
    report = json.loads(out.stdout)
    languages = {k: v["code"] for k, v in report.items() if k not in ("header", "SUM")}
    return report.get("SUM", {}).get("code", 0), languages


def expected_project(history: Iterable[ScriptedCommit], url: str, tmp: Path) -> dict[str, Any]:
    """Return the seed-004 numbers of a scripted history, computed from what the test wrote."""
    commits = list(history)
    last = max(c.committed_at for c in commits).astimezone(UTC)
    loc, by_language = cloc_of_checkout(url, tmp)
    return {
        "commits": expected_commits(commits),
        "code_churn": expected_churn(commits, EXCLUDED_DIRS),
        "active_days": expected_active_days(commits),
        "time_spent": f"{expected_time_spent_minutes(commits):.0f}m",
        "last_finished": last.strftime(LAST_FINISHED_FORMAT),
        "loc": loc,
        "loc_by_language": by_language,
    }


def wait_for_job(client: Any, job_id: str, timeout: float = 300.0) -> dict[str, Any]:
    """Poll the status endpoint until the job is completed or failed; return its last body."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = client.get(f"/api/refresh/status/{job_id}").get_json()
        if body["status"] in ("completed", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {body.get('status')} after {timeout} s: {body}")


def refresh(client: Any, timeout: float = 300.0, query: str = "") -> dict[str, Any]:
    """Start a refresh through the API and wait for its end."""
    started = client.post(f"/api/refresh{query}")
    assert started.status_code == 202, started.get_json()
    return wait_for_job(client, started.get_json()["job_id"], timeout)


def projects_by_name(client: Any) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in client.get("/api/projects").get_json()}


@pytest.fixture
def tracked(client: Any, github: GitHubStandIn, sample_history: SampleHistory) -> SampleHistory:
    """Track the sample history and refresh it once (cold)."""
    github.add_repo("sample", clone_url=sample_history.url, languages={"Python": 100, "Go": 10})
    assert refresh(client)["status"] == "completed"
    return sample_history


def added_job(output: str) -> str:
    """Return the refresh job id in the output of `flask tracker add` (one repository)."""
    [job_id] = re.findall(r"; refresh job (\S+)$", output, flags=re.MULTILINE)
    return job_id


def wait_as_admin(client: Any, job_id: str) -> dict[str, Any]:
    """Wait for a job as the admin (the job of a private repository is not shown to anyone else)."""

    class Admin:
        @staticmethod
        def get(path: str) -> Any:
            return client.get(path, headers=ADMIN)

    return wait_for_job(Admin, job_id)


def bare_dir(history: SampleHistory) -> Path:
    """Return the directory of a published sample history's bare repository."""
    return Path(urlsplit(history.url).path)


@contextmanager
def running_gitlab(token: str) -> Iterator[GitLabStandIn]:
    """Serve a GitLab stand-in that accepts `token`; after use, check it saw no unexpected request."""
    server = GitLabStandIn.start(token=token)
    yield server
    server.stop()
    assert server.errors == []
