"""Act on GitHub webhook deliveries: verify, de-duplicate, and make tracked rows follow GitHub.

A push to a tracked repository's default branch starts (or joins) that repository's refresh job
(`lifecycle.start_refresh`, one active job per repository, so a burst of pushes is one refresh);
`repository`, `star`, `watch`, `fork` and `public` deliveries update the row from the payload,
with no GitHub call. Nothing here refreshes inline: the caller answers GitHub at once.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from infra.extensions import conflict_insert, db
from infra.runtime import runtime
from models import Project, RepoUpdate, WebhookCount, WebhookDelivery, full_name_key, utcnow
from refresh import lifecycle, tracking
from refresh.metadata import COUNTED_FIELDS, apply_repository, record_change

MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
ZERO_SHA = "0" * 40
COUNTED_EVENTS = ("push", "ping", "repository", "star", "watch", "fork", "public")
REPOSITORY_ACTIONS = ("renamed", "transferred", "edited", "archived", "unarchived", "publicized", "privatized")


@dataclass
class Result:
    """What a delivery led to: the HTTP status, an outcome label (metrics) and a message."""

    status: int
    outcome: str
    message: str
    extra: dict[str, Any] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "message": self.message, **self.extra}


class MalformedDelivery(ValueError):
    """The payload lacks a field the event needs."""


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is `sha256=<hex HMAC-SHA256 of body keyed by secret>` (constant-time)."""
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode("ascii", "replace"))


def metric_event(event: str | None) -> str:
    """Bound the label set: events we act on keep their name, anything else is "other"."""
    return event if event in COUNTED_EVENTS else "other"


def count(event: str | None, outcome: str) -> None:
    """Add one to the counter of an event and outcome (its own transaction)."""
    table = WebhookCount.__table__
    insert = conflict_insert(db.engine.dialect.name, table).values(event=metric_event(event), outcome=outcome, count=1)
    db.session.execute(
        insert.on_conflict_do_update(index_elements=["event", "outcome"], set_={"count": table.c.count + 1})
    )
    db.session.commit()


def handle(event: str, delivery: str, payload: Mapping[str, Any]) -> Result:
    """Handle one verified, parsed delivery exactly once per delivery id; commit everything."""
    _forget_old_deliveries()
    table = WebhookDelivery.__table__
    insert = conflict_insert(db.engine.dialect.name, table).values(
        delivery_id=delivery, event=event[:64], outcome="received", received_at=utcnow()
    )
    claimed = insert.on_conflict_do_nothing(index_elements=["delivery_id"]).returning(table.c.delivery_id)
    if db.session.execute(claimed).scalar() is None:
        db.session.rollback()
        return Result(200, "duplicate", "This delivery was already handled")
    try:
        result = _dispatch(event, payload)
    except MalformedDelivery as exc:
        db.session.rollback()
        return Result(400, "malformed", str(exc))
    except BaseException:
        db.session.rollback()
        raise
    row = db.session.get(WebhookDelivery, delivery)
    if row is not None:  # a deleted project's handler committed already; the row is still ours
        row.outcome = result.outcome
    db.session.commit()
    return result


def _forget_old_deliveries() -> None:
    days = runtime().settings.webhook_retention_days
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.received_at < utcnow() - timedelta(days=days)))


def _dispatch(event: str, payload: Mapping[str, Any]) -> Result:
    if event == "ping":
        return Result(200, "pong", "pong")
    if event not in COUNTED_EVENTS:
        return Result(202, "ignored", f"Event {event!r} is not used")
    project = _tracked(payload)
    if project is None:
        return Result(202, "ignored", "Repository is not tracked")
    if event == "push":
        return _push(project, payload)
    if event in ("repository", "public"):
        return _repository(project, payload, "publicized" if event == "public" else payload.get("action"))
    return _counts(project, _repo(payload))


def _repo(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    repo = payload.get("repository")
    if not isinstance(repo, Mapping):
        raise MalformedDelivery("The payload has no repository object")
    return repo


def _tracked(payload: Mapping[str, Any]) -> Project | None:
    """Find the tracked project a delivery is about: by GitHub id (follows renames), else by name."""
    repo = _repo(payload)
    github_id = repo.get("id")
    if isinstance(github_id, int):
        project = db.session.scalar(select(Project).where(Project.github_id == github_id))
        if project is not None:
            return project
    owner = repo.get("owner") if isinstance(repo.get("owner"), Mapping) else {}
    login, name = owner.get("login") or owner.get("name"), repo.get("name")
    if not isinstance(login, str) or not isinstance(name, str):
        raise MalformedDelivery("The repository object has no owner login or name")
    return db.session.scalar(select(Project).where(Project.full_name_key == full_name_key(login, name)))


def _push(project: Project, payload: Mapping[str, Any]) -> Result:
    ref, after = payload.get("ref"), payload.get("after")
    if not isinstance(ref, str) or not isinstance(after, str):
        raise MalformedDelivery("A push needs string `ref` and `after`")
    branch = _repo(payload).get("default_branch") or project.default_branch
    if ref != f"refs/heads/{branch}":
        return Result(202, "ignored", f"{ref} is not the default branch")
    if payload.get("deleted") is True or after == ZERO_SHA:
        return Result(202, "ignored", "A deletion changes no tracked metric")
    if project.paused:
        return Result(202, "ignored", "The repository is paused")
    project.refresh_requested_at = utcnow()
    db.session.commit()  # before looking for a running refresh: see jobs.refresh_repository
    job, outcome = lifecycle.start_refresh(trigger="webhook", project=project)
    label = "queued" if outcome == "started" else "coalesced"
    return Result(202, label, f"Refresh {label}", {"job_id": job.id})


def _repository(project: Project, payload: Mapping[str, Any], action: Any) -> Result:
    if action == "deleted":
        tracking.delete_repository(project.id)
        return Result(200, "deleted", "The repository was deleted on GitHub; it is no longer tracked")
    if action not in REPOSITORY_ACTIONS:
        return Result(202, "ignored", f"Repository action {action!r} is not used")
    repo = _repo(payload)
    if not isinstance(repo.get("owner"), Mapping) or not isinstance(repo.get("name"), str):
        raise MalformedDelivery("The repository object has no owner or name")
    db.session.add_all(apply_repository(project, repo))
    return Result(200, "updated", f"Repository {action}")


def _counts(project: Project, repo: Mapping[str, Any]) -> Result:
    """Copy the counters the payload carries (stars, forks, watchers, issues) with history rows."""
    updates: list[RepoUpdate] = []
    for attr, (github_field, kind) in COUNTED_FIELDS.items():
        new = repo.get(github_field)
        if not isinstance(new, int) or isinstance(new, bool):
            continue
        old = getattr(project, attr)
        if old != new:
            updates.append(record_change(project, kind, old, new, f"{kind.replace('_', ' ')}: {old} → {new}"))
            setattr(project, attr, new)
    db.session.add_all(updates)
    return Result(200, "updated", f"{len(updates)} counter(s) changed")
