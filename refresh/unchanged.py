"""Tell which repositories a full refresh can skip: nothing pushed since their last complete analysis.

GitHub's repository list carries `pushed_at`; when it (and the analysis rules) equal what the
last complete analysis saw, the history, LOC and languages cannot have changed, so the refresh
needs no job, no languages call and no git fetch for that repository.
"""

from __future__ import annotations

import hashlib

from models import Project
from refresh.commit_sync import PARSER_VERSION
from settings import Settings


def rules_key(settings: Settings) -> str:
    """Identify the analysis rules that come from configuration and code (not from the repository)."""
    material = "|".join([PARSER_VERSION, ",".join(sorted(settings.excluded_dirs))])
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def mark_synced(project: Project, settings: Settings) -> None:
    """Remember what this complete analysis saw."""
    project.synced_pushed_at = project.pushed_at
    project.synced_rules = rules_key(settings)


def is_unchanged(project: Project, settings: Settings) -> bool:
    """Tell whether nothing was pushed to the project since its last complete, successful analysis."""
    return (
        project.synced_pushed_at is not None
        and project.pushed_at == project.synced_pushed_at
        and project.synced_rules == rules_key(settings)
        and project.head_sha is not None
        and project.last_error is None
        and project.authored_loc is not None  # counted before authored lines existed: recount once
    )
