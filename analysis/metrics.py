"""Compute seed-004 metrics and their wire formats: pure functions of their inputs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

LAST_FINISHED_FORMAT = "%m/%d/%Y, %I:%M:%S %p"
UNKNOWN_LANGUAGE = "Unknown"


@dataclass(frozen=True)
class HistoryStats:
    """Aggregates of a project's commit history (seed-004 definitions)."""

    commits: int
    active_days: int
    time_spent_min: float
    first_commit: datetime | None
    last_commit: datetime | None
    code_churn: int


EMPTY_HISTORY = HistoryStats(0, 0, 0.0, None, None, 0)


def history_stats(committed: Sequence[datetime], churn: Iterable[int]) -> HistoryStats:
    """Aggregate committer dates and per-commit churn of the commits reachable from HEAD."""
    if not committed:
        return EMPTY_HISTORY
    dates = [d.astimezone(UTC) for d in committed]
    first, last = min(dates), max(dates)
    return HistoryStats(
        commits=len(dates),
        active_days=len({d.date() for d in dates}),
        time_spent_min=(last - first).total_seconds() / 60,
        first_commit=first,
        last_commit=last,
        code_churn=sum(churn),
    )


def primary_language(language_bytes: Mapping[str, int]) -> str | None:
    """Return the language with the most bytes (ties: alphabetical), None when there is none."""
    if not language_bytes:
        return None
    return min(language_bytes.items(), key=lambda item: (-item[1], item[0]))[0]


def format_time_spent(minutes: float) -> str:
    return f"{minutes:.0f}m"


def format_last_finished(when: datetime | None) -> str:
    if when is None:
        return "Never"
    return when.astimezone(UTC).strftime(LAST_FINISHED_FORMAT)


def format_size_kb(size_kb: float | None) -> str:
    return f"{(size_kb or 0.0):.1f}"


def iso(when: datetime | date | None) -> str | None:
    """Return ISO 8601 (UTC, `Z` suffix for datetimes) or None."""
    if when is None:
        return None
    if isinstance(when, datetime):
        return when.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return when.isoformat()


@dataclass(frozen=True)
class ProjectFigures:
    """The numbers of one project that the rollup needs."""

    name: str
    loc: int
    commits: int
    active_days: int
    code_churn: int
    time_spent_min: float
    size_kb: float
    language: str


def _share(part: int, whole: int) -> float:
    return round(part / whole * 100, 1) if whole else 0.0


def _languages(projects: Sequence[ProjectFigures]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    counts = Counter(p.language for p in projects)
    breakdown = {
        language: {
            "project_count": count,
            "total_loc": sum(p.loc for p in projects if p.language == language),
            "percentage_of_projects": _share(count, len(projects)),
        }
        for language, count in sorted(counts.items())
    }
    if not counts:
        return breakdown, None
    language, count = min(counts.items(), key=lambda item: (-item[1], item[0]))
    return breakdown, {"language": language, "project_count": count, "percentage": _share(count, len(projects))}


def _leader(projects: Sequence[ProjectFigures], key: str) -> ProjectFigures | None:
    """Return the project with the largest `key` (ties: first by name)."""
    if not projects:
        return None
    return min(projects, key=lambda p: (-getattr(p, key), p.name))


def _average(total: float, count: int) -> float:
    return round(total / count, 1) if count else 0.0


def rollup(projects: Sequence[ProjectFigures]) -> dict[str, Any]:
    """Return the `/api/metrics` body: totals, leaders, languages and averages."""
    n = len(projects)
    minutes = sum(p.time_spent_min for p in projects)
    total_loc = sum(p.loc for p in projects)
    total_commits = sum(p.commits for p in projects)
    total_days = sum(p.active_days for p in projects)
    breakdown, most_common = _languages(projects)
    most_loc, most_time, most_commits = (_leader(projects, k) for k in ("loc", "time_spent_min", "commits"))
    return {
        "total_projects": n,
        "total_time_spent_hours": round(minutes / 60, 1),
        "total_time_spent_minutes": round(minutes, 1),
        "total_loc": total_loc,
        "total_commits": total_commits,
        "total_active_days": total_days,
        "total_code_churn": sum(p.code_churn for p in projects),
        "average_project_size_kb": _average(sum(p.size_kb for p in projects), n),
        "project_with_most_loc": most_loc and {"name": most_loc.name, "loc": most_loc.loc},
        "project_with_most_time": most_time
        and {
            "name": most_time.name,
            "time_spent_minutes": round(most_time.time_spent_min, 1),
            "time_spent_hours": round(most_time.time_spent_min / 60, 1),
        },
        "project_with_most_commits": most_commits and {"name": most_commits.name, "commits": most_commits.commits},
        "most_common_language": most_common,
        "languages_breakdown": breakdown,
        "averages": {
            "loc_per_project": _average(total_loc, n),
            "commits_per_project": _average(total_commits, n),
            "time_per_project_hours": _average(minutes / 60, n),
            "active_days_per_project": _average(total_days, n),
        },
    }


def language_or_unknown(language: str | None) -> str:
    return language or UNKNOWN_LANGUAGE


def contract_fields(project: Any) -> dict[str, Any]:
    """Return a project's seed-004 metric fields in seed 004's formats (any object with the columns)."""
    return {
        "time_spent": format_time_spent(project.time_spent_min or 0.0),
        "loc": project.loc or 0,
        "commits": project.commit_count or 0,
        "active_days": project.active_days or 0,
        "code_churn": project.code_churn or 0,
        "last_finished": format_last_finished(project.last_commit_date),
        "primary_language": language_or_unknown(project.primary_language),
        "repository_size_kb": format_size_kb(project.size_kb),
    }
