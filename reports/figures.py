"""Build the chart pages' figures with plotly: pure functions from series to figure JSON.

Pages load plotly.js from the installed `plotly` package through the app (no CDN), so the
figures are plain JSON the page script hands to `Plotly.newPlot`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import plotly
import plotly.graph_objects as go
from plotly.colors import qualitative

PLOTLY_JS_DIR = Path(plotly.__file__).resolve().parent / "package_data"
PALETTE = qualitative.Plotly
LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 40, "b": 60}, "height": 520}


@dataclass(frozen=True)
class GapSeries:
    """The newest events of one type (oldest first) and the metric's average gap over all of them."""

    event_type: str
    times: Sequence[datetime]
    avg_gap: float | None
    events_count: int


def to_json(figure: go.Figure) -> dict[str, Any]:
    """Return a figure as JSON-ready data and layout (plotly encodes dates and numbers)."""
    return json.loads(figure.to_json())


def gaps(times: Sequence[datetime]) -> list[float]:
    """Return the seconds between each event and the one before it."""
    return [(later - earlier).total_seconds() for earlier, later in pairwise(times)]


def avg_time_figure(series: Sequence[GapSeries]) -> dict[str, Any] | None:
    """Plot, per type, each gap as a point and the metric's average as a dashed line; None if no gaps."""
    figure = go.Figure()
    for index, item in enumerate(s for s in series if len(s.times) >= 2 and s.avg_gap is not None):
        color = PALETTE[index % len(PALETTE)]
        figure.add_scatter(x=list(item.times[1:]), y=gaps(item.times), mode="markers", name=f"{item.event_type} gaps",
                           legendgroup=item.event_type, marker={"color": color, "size": 6})  # fmt: skip
        figure.add_scatter(x=[item.times[1], item.times[-1]], y=[item.avg_gap, item.avg_gap], mode="lines",
                           name=f"{item.event_type} average ({item.avg_gap} s over {item.events_count} events)",
                           legendgroup=item.event_type, line={"color": color, "dash": "dash", "width": 2})  # fmt: skip
    if not figure.data:
        return None
    figure.update_layout(**LAYOUT, xaxis_title="event created at (UTC)", yaxis_title="seconds since previous event")
    return to_json(figure)


def total_count_figure(counts: dict[str, int]) -> dict[str, Any] | None:
    """Plot one bar per event type with events; None when there are none."""
    present = sorted(((kind, n) for kind, n in counts.items() if n), key=lambda item: (-item[1], item[0]))
    if not present:
        return None
    figure = go.Figure(go.Bar(x=[k for k, _ in present], y=[n for _, n in present], marker_color=PALETTE[0],
                              text=[n for _, n in present], textposition="outside"))  # fmt: skip
    figure.update_layout(**LAYOUT, xaxis_title="event type", yaxis_title="events")
    return to_json(figure)


def loc_by_language_figure(projects: Sequence[tuple[str, dict[str, int]]]) -> dict[str, Any] | None:
    """Plot lines of code per project, stacked by language; None without line counts."""
    if not projects:
        return None
    totals: dict[str, int] = {}
    for _, languages in projects:
        for language, loc in languages.items():
            totals[language] = totals.get(language, 0) + loc
    figure = go.Figure()
    names = [name for name, _ in projects]
    for index, language in enumerate(sorted(totals, key=lambda lang: (-totals[lang], lang))):
        figure.add_bar(x=names, y=[languages.get(language, 0) for _, languages in projects],
                       name=f"{language} ({totals[language]})", marker_color=PALETTE[index % len(PALETTE)])  # fmt: skip
    figure.update_layout(**LAYOUT, barmode="stack", xaxis_title="project", yaxis_title="lines of code")
    return to_json(figure)


def commits_per_week_figure(weeks: Sequence[tuple[date, int]]) -> dict[str, Any] | None:
    """Plot commits per ISO week (bars at each week's Monday); None without commits."""
    if not weeks:
        return None
    figure = go.Figure(go.Bar(x=[w for w, _ in weeks], y=[n for _, n in weeks], marker_color=PALETTE[0]))
    figure.update_layout(**LAYOUT, xaxis_title="week (Monday)", yaxis_title="commits")
    return to_json(figure)


def stars_figure(points: Sequence[tuple[datetime | str, int]]) -> dict[str, Any] | None:
    """Plot the star count over time as steps; None without history."""
    if not points:
        return None
    figure = go.Figure(go.Scatter(x=[t for t, _ in points], y=[n for _, n in points], mode="lines+markers",
                                  line={"shape": "hv", "color": PALETTE[0]}))  # fmt: skip
    figure.update_layout(**LAYOUT, xaxis_title="time (UTC)", yaxis_title="stars")
    return to_json(figure)
