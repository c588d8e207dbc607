"""Map GitHub repository JSON onto a Project and record what changed (RepoUpdate rows)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from analysis import metrics
from gh.rules import parse_github_time
from models import Project, RepoUpdate, full_name_key, utcnow

# Project attribute → (GitHub field, update_type recorded when it changes)
COUNTED_FIELDS = {
    "stars": ("stargazers_count", "stars"),
    "forks": ("forks_count", "forks"),
    "watchers": ("watchers_count", "watchers"),
    "open_issues": ("open_issues_count", "open_issues"),
}
TEXT_FIELDS = {
    "default_branch": ("default_branch", "default_branch"),
    "archived": ("archived", "archived"),
    "private": ("private", "visibility"),
    "description": ("description", "description"),
}
PLAIN_FIELDS = {"html_url": "html_url", "clone_url": "clone_url", "homepage": "homepage", "fork": "fork"}


def record_change(project: Project, kind: str, old: Any, new: Any, description: str) -> RepoUpdate:
    return RepoUpdate(
        project_id=project.id,
        update_type=kind,
        old_value=None if old is None else str(old),
        new_value=None if new is None else str(new),
        description=description,
        created_at=utcnow(),
    )


def apply_repository(project: Project, data: Mapping[str, Any]) -> list[RepoUpdate]:
    """Copy GitHub's repository fields onto the project; return the changes worth recording."""
    known = project.metadata_checked_at is not None
    updates: list[RepoUpdate] = []
    owner, name = data["owner"]["login"], data["name"]
    if known and full_name_key(owner, name) != project.full_name_key:
        updates.append(record_change(project, "renamed", project.full_name, f"{owner}/{name}",
                               f"Renamed or transferred from {project.full_name} to {owner}/{name}"))  # fmt: skip
    project.owner, project.name, project.full_name_key = owner, name, full_name_key(owner, name)
    project.github_id = data.get("id", project.github_id)
    for attr, (field, kind) in {**COUNTED_FIELDS, **TEXT_FIELDS}.items():
        old, new = getattr(project, attr), data.get(field)
        if new is None and attr not in ("description",):
            continue
        if known and old != new:
            updates.append(record_change(project, kind, old, new, f"{kind.replace('_', ' ')}: {old} → {new}"))
        setattr(project, attr, new)
    for attr, field in PLAIN_FIELDS.items():
        if field in data:
            setattr(project, attr, data[field])
    project.size_kb = float(data.get("size") or 0)
    project.topics = list(data.get("topics") or [])
    project.pushed_at = parse_github_time(data.get("pushed_at"))
    project.github_created_at = parse_github_time(data.get("created_at"))
    project.metadata_checked_at = utcnow()
    return updates


# Project attribute → (GitLab project field, update_type recorded when it changes); `private` is
# derived from `visibility` ("public", "internal" or "private": anything but public is private).
GITLAB_FIELDS = {
    "stars": ("star_count", "stars"),
    "forks": ("forks_count", "forks"),
    "default_branch": ("default_branch", "default_branch"),
    "archived": ("archived", "archived"),
    "private": ("private", "visibility"),
    "description": ("description", "description"),
}


def apply_gitlab_project(project: Project, data: Mapping[str, Any]) -> list[RepoUpdate]:
    """Copy a GitLab project's fields onto the project; return the changes worth recording.

    The repository keeps the name and clone URL it was added with; a project GitLab does not
    call public (no or an unknown `visibility` too) is private.
    """
    known = project.metadata_checked_at is not None
    values = {**data, "private": data.get("visibility") != "public"}
    updates: list[RepoUpdate] = []
    for attr, (field, kind) in GITLAB_FIELDS.items():
        old, new = getattr(project, attr), values.get(field)
        if new is None and attr != "description":
            continue
        if known and old != new:
            updates.append(record_change(project, kind, old, new, f"{kind.replace('_', ' ')}: {old} → {new}"))
        setattr(project, attr, new)
    if isinstance(data.get("web_url"), str):
        project.html_url = data["web_url"]
    project.metadata_checked_at = utcnow()
    return updates


def apply_languages(project: Project, languages: Mapping[str, int]) -> list[RepoUpdate]:
    """Store GitHub's language bytes and the primary language; record a primary-language change."""
    new_primary = metrics.primary_language(languages)
    updates = []
    if project.languages and new_primary != project.primary_language:
        updates.append(record_change(project, "language", project.primary_language, new_primary,
                               f"Primary language: {project.primary_language} → {new_primary}"))  # fmt: skip
    project.languages = dict(languages)
    project.primary_language = new_primary
    return updates


def history_updates(project: Project, *, commits_before: int, head_before: str | None,
                    loc_before: int) -> list[RepoUpdate]:  # fmt: skip
    """Record new commits, a rewritten history and a LOC change after an analysis."""
    updates = []
    if head_before and project.head_sha != head_before:
        added = project.commit_count - commits_before
        if added > 0:
            updates.append(record_change(project, "new_commits", commits_before, project.commit_count,
                                   f"{added} new commit{'s' if added != 1 else ''}"))  # fmt: skip
        elif added < 0:
            updates.append(record_change(project, "history_rewritten", commits_before, project.commit_count,
                                   "History rewritten (force-push): commits removed"))  # fmt: skip
    if project.loc_head_sha and loc_before != project.loc and (head_before or loc_before):
        updates.append(
            record_change(project, "loc", loc_before, project.loc, f"Lines of code: {loc_before} → {project.loc}")
        )
    return updates
