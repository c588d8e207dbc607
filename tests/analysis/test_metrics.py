"""Pure metric arithmetic and wire formats (seed-004 definitions, CONTRACT.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from analysis import metrics
from analysis.metrics import ProjectFigures


def test_history_stats_counts_utc_days_and_span() -> None:
    plus2 = timezone(timedelta(hours=2))
    dates = [
        datetime(2024, 3, 1, 23, 30, tzinfo=UTC),
        datetime(2024, 3, 2, 0, 30, tzinfo=plus2),  # 2024-03-01 22:30 UTC: same UTC day as above
        datetime(2024, 3, 5, 8, 0, tzinfo=UTC),
    ]
    stats = metrics.history_stats(dates, [10, 0, 5])
    assert stats.commits == 3
    assert stats.active_days == 2
    assert stats.first_commit == datetime(2024, 3, 1, 22, 30, tzinfo=UTC)
    assert stats.last_commit == datetime(2024, 3, 5, 8, 0, tzinfo=UTC)
    assert stats.time_spent_min == (3 * 24 * 60 + 9 * 60 + 30)
    assert stats.code_churn == 15


def test_history_stats_of_nothing_is_zero() -> None:
    assert metrics.history_stats([], []) == metrics.EMPTY_HISTORY


@pytest.mark.parametrize(
    ("minutes", "text"),
    [(0.0, "0m"), (59.4, "59m"), (59.6, "60m"), (123.0, "123m"), (10_000.2, "10000m")],
)
def test_format_time_spent(minutes: float, text: str) -> None:
    assert metrics.format_time_spent(minutes) == text


def test_format_last_finished_is_utc_12_hour_clock() -> None:
    when = datetime(2024, 7, 9, 15, 4, 5, tzinfo=timezone(timedelta(hours=-4)))
    assert metrics.format_last_finished(when) == "07/09/2024, 07:04:05 PM"
    assert metrics.format_last_finished(None) == "Never"


@pytest.mark.parametrize(("size", "text"), [(None, "0.0"), (0, "0.0"), (12.34, "12.3"), (1024, "1024.0")])
def test_format_size_kb_has_one_decimal(size: float | None, text: str) -> None:
    assert metrics.format_size_kb(size) == text


def test_primary_language_is_most_bytes_then_alphabetical() -> None:
    assert metrics.primary_language({"Shell": 673, "Python": 127266}) == "Python"
    assert metrics.primary_language({"Go": 10, "C": 10}) == "C"
    assert metrics.primary_language({}) is None


def test_rollup_of_no_projects_keeps_the_shape() -> None:
    body = metrics.rollup([])
    assert body == {
        "total_projects": 0,
        "total_time_spent_hours": 0.0,
        "total_time_spent_minutes": 0.0,
        "total_loc": 0,
        "total_commits": 0,
        "total_active_days": 0,
        "total_code_churn": 0,
        "average_project_size_kb": 0.0,
        "project_with_most_loc": None,
        "project_with_most_time": None,
        "project_with_most_commits": None,
        "most_common_language": None,
        "languages_breakdown": {},
        "averages": {
            "loc_per_project": 0.0,
            "commits_per_project": 0.0,
            "time_per_project_hours": 0.0,
            "active_days_per_project": 0.0,
        },
    }


def test_rollup_totals_leaders_and_languages() -> None:
    projects = [
        ProjectFigures("alpha", loc=1000, commits=10, active_days=4, code_churn=300, time_spent_min=90.0,
                       size_kb=10.0, language="Python"),
        ProjectFigures("beta", loc=500, commits=30, active_days=6, code_churn=50, time_spent_min=600.0,
                       size_kb=20.5, language="Go"),
        ProjectFigures("gamma", loc=250, commits=5, active_days=1, code_churn=0, time_spent_min=0.0,
                       size_kb=0.0, language="Python"),
    ]  # fmt: skip
    body = metrics.rollup(projects)
    assert body["total_projects"] == 3
    assert body["total_time_spent_minutes"] == 690.0
    assert body["total_time_spent_hours"] == 11.5
    assert body["total_loc"] == 1750
    assert body["total_commits"] == 45
    assert body["total_active_days"] == 11
    assert body["total_code_churn"] == 350
    assert body["average_project_size_kb"] == 10.2  # 30.5 / 3 = 10.1666…
    assert body["project_with_most_loc"] == {"name": "alpha", "loc": 1000}
    assert body["project_with_most_time"] == {"name": "beta", "time_spent_minutes": 600.0, "time_spent_hours": 10.0}
    assert body["project_with_most_commits"] == {"name": "beta", "commits": 30}
    assert body["most_common_language"] == {"language": "Python", "project_count": 2, "percentage": 66.7}
    assert body["languages_breakdown"] == {
        "Go": {"project_count": 1, "total_loc": 500, "percentage_of_projects": 33.3},
        "Python": {"project_count": 2, "total_loc": 1250, "percentage_of_projects": 66.7},
    }
    assert body["averages"] == {
        "loc_per_project": 583.3,
        "commits_per_project": 15.0,
        "time_per_project_hours": 3.8,
        "active_days_per_project": 3.7,
    }


def test_iso_uses_z_suffix() -> None:
    assert metrics.iso(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2024-01-02T03:04:05Z"
    assert metrics.iso(None) is None
