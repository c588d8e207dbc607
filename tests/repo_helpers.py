"""Helpers shared by the tracked-repository tests: the admin token, requests, waiting for refreshes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from infra.extensions import db
from models import Project, full_name_key
from tests.conftest import wait_for
from tests.standin.server import GitHubStandIn

ADMIN = "admin-token-for-tests"
AUTH = {"Authorization": f"Bearer {ADMIN}"}


def settled(client: Any, timeout: float = 300.0) -> None:
    """Wait until no refresh job is queued or running."""

    def idle() -> bool:
        return all(j["status"] in ("completed", "failed") for j in client.get("/api/refresh/jobs").get_json())

    wait_for(idle, timeout=timeout, message="refresh jobs to finish")


def remote(github: GitHubStandIn, name: str, **fields: Any) -> Any:
    """Add a repository to the stand-in whose clone fails at once (tests that do not need its refresh)."""
    return github.add_repo(name, **{"clone_url": f"file:///nonexistent/{name}.git", **fields})


def post(client: Any, body: Any) -> Any:
    """POST a body to /api/repos with the admin token."""
    return client.post("/api/repos", json=body, headers=AUTH)


def finished(client: Any, job_id: str, timeout: float = 300.0) -> dict[str, Any]:
    """Wait until a refresh job completed or failed; return its status body."""

    def done() -> dict[str, Any] | None:
        body = client.get(f"/api/refresh/status/{job_id}").get_json()
        return body if body["status"] in ("completed", "failed") else None

    return wait_for(done, timeout=timeout, message=f"refresh job {job_id}")


def count(app: Any, model: Any) -> int:
    """Return the number of rows of a table."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model)) or 0


def add_project(app: Any, owner: str, name: str, **values: Any) -> int:
    """Insert a project directly (no GitHub call) and return its id."""
    with app.app_context():
        project = Project(owner=owner, name=name, full_name_key=full_name_key(owner, name), **values)
        db.session.add(project)
        db.session.commit()
        return project.id
