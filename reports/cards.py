"""The embeddable SVG cards (issue 13), drawn from stored data only: pin, languages, summary, activity."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from analysis import linguist
from models import Project
from reports.card_svg import Options, card, number, text

PAD = 20
# The columns the languages and summary cards read (loading 200 whole rows costs more than drawing).
TOTALS_COLUMNS = (Project.loc, Project.loc_by_language, Project.authored_loc, Project.authored_loc_by_language,
                  Project.commit_count, Project.active_days, Project.time_spent_min)  # fmt: skip


def _lines(project: Project, options: Options) -> tuple[int, dict[str, int]]:
    """Return a project's (total, by language) lines: authored by default, all with lines=all."""
    if options.all_lines or project.authored_loc is None:
        return project.loc or 0, dict(project.loc_by_language or {})
    return project.authored_loc or 0, dict(project.authored_loc_by_language or {})


def primary(by_language: dict[str, int], fallback: str | None) -> str | None:
    """Return the language with the most lines (ties alphabetical), else GitHub's primary language."""
    if by_language:
        return min(by_language.items(), key=lambda item: (-item[1], item[0]))[0]
    return fallback


def project_card(project: Project, options: Options) -> str:
    """Pin card: name, description, primary language, stars, forks, LOC, commits, last activity."""
    theme, width, loc = options.theme, options.width, options.locale
    room = width - 2 * PAD
    total, by_language = _lines(project, options)
    body = [text(PAD, 32, project.display_name or project.name, size=16, fill=theme.title, room=room, weight="600")]
    description = project.description_override or project.description or ""
    y = 56
    if "description" not in options.hide and description:
        body.append(text(PAD, y, description, size=12, fill=theme.muted, room=room))
        y += 24
    half = room / 2
    language = primary(by_language, project.primary_language)
    stats = [
        ("language", language, None),
        ("stars", f"★ {number(project.stars or 0, loc)}", None),
        ("forks", f"{number(project.forks or 0, loc)} forks", None),
        ("loc", f"{number(total, loc)} lines", None),
        ("commits", f"{number(project.commit_count or 0, loc)} commits", None),
        ("activity", _last_activity(project), None),
    ]
    shown = [(key, value) for key, value, _ in stats if value and key not in options.hide]
    for index, (key, value) in enumerate(shown):
        x = PAD + (index % 2) * half
        row_y = y + (index // 2) * 22
        if key == "language":
            body.append(f'<circle cx="{x + 6:.1f}" cy="{row_y - 4:.1f}" r="6" fill="{linguist.colour(value)}"/>')
            body.append(text(x + 18, row_y, value, size=12, fill=theme.text, room=half - 24))
        else:
            body.append(text(x, row_y, value, size=12, fill=theme.text, room=half - 6))
    height = y + ((len(shown) + 1) // 2) * 22 + 4
    return card(width, max(height, 70), theme, f"{project.full_name}: project card", body)


def _last_activity(project: Project) -> str | None:
    when = project.last_commit_date or project.pushed_at
    return f"last commit {when.astimezone(UTC).date().isoformat()}" if when else None


def language_totals(projects: list[Project], options: Options) -> list[tuple[str, int]]:
    """Return (language, lines) across projects, largest first, without hidden languages."""
    totals: dict[str, int] = {}
    for project in projects:
        for language, lines in _lines(project, options)[1].items():
            totals[language] = totals.get(language, 0) + int(lines)
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return [(name, lines) for name, lines in ranked if lines > 0 and name.lower() not in options.hide]


def languages_card(projects: list[Project], options: Options) -> str:
    """Top languages by lines of code across the projects, as compact bars."""
    theme, width = options.theme, options.width
    room = width - 2 * PAD
    ranked = language_totals(projects, options)
    top = ranked[: options.limit]
    total = sum(lines for _, lines in ranked) or 1
    title = "Top languages" + (" (all lines)" if options.all_lines else "")
    body = [text(PAD, 32, title, size=16, fill=theme.title, room=room, weight="600")]
    y = 58
    if not top:
        body.append(text(PAD, y, "No line counts yet", size=12, fill=theme.muted, room=room))
    for name, lines in top:
        share = lines / total
        percent = f"{number(round(share * 100, 1), options.locale)}%"
        percent_room = 64
        body.append(text(PAD, y, name, size=12, fill=theme.text, room=room - percent_room - 8))
        body.append(text(width - PAD, y, percent, size=12, fill=theme.muted, room=percent_room, anchor="end"))
        body.append(f'<rect x="{PAD}" y="{y + 6}" width="{room:.1f}" height="6" rx="3" fill="{theme.track}"/>')
        body.append(f'<rect x="{PAD}" y="{y + 6}" width="{max(room * share, 2):.1f}" height="6" rx="3" '
                    f'fill="{linguist.colour(name)}"/>')  # fmt: skip
        y += 34
    return card(width, max(y, 80), theme, title, body)


def summary_card(projects: list[Project], options: Options) -> str:
    """Totals: projects, lines of code, commits, active days, time spent."""
    theme, width, loc = options.theme, options.width, options.locale
    room = width - 2 * PAD
    minutes = sum(p.time_spent_min or 0.0 for p in projects)
    rows = [
        ("projects", "Projects", number(len(projects), loc)),
        (
            "loc",
            "Lines of code" if options.all_lines else "Lines written",
            number(sum(_lines(p, options)[0] for p in projects), loc),
        ),
        ("commits", "Commits", number(sum(p.commit_count or 0 for p in projects), loc)),
        ("days", "Active days", number(sum(p.active_days or 0 for p in projects), loc)),
        ("time", "Time spent", f"{number(round(minutes / 60, 1), loc)} h"),
    ]
    body = [text(PAD, 32, "Portfolio summary", size=16, fill=theme.title, room=room, weight="600")]
    y = 60
    value_room = room * 0.4
    for key, label, value in rows:
        if key in options.hide:
            continue
        body.append(text(PAD, y, label, size=13, fill=theme.muted, room=room - value_room - 8))
        body.append(text(width - PAD, y, value, size=13, fill=theme.text, room=value_room, weight="600", anchor="end"))
        y += 24
    return card(width, y, theme, "Portfolio summary", body)


def weeks(per_week: list[tuple[date, int]], today: date, count: int = 52) -> list[tuple[date, int]]:
    """Return the last `count` weeks (Mondays, oldest first) ending with this week, with their commits."""
    monday = today - timedelta(days=today.weekday())
    known = {(day if isinstance(day, date) else date.fromisoformat(str(day)[:10])): n for day, n in per_week}
    return [(monday - timedelta(weeks=back), known.get(monday - timedelta(weeks=back), 0))
            for back in range(count - 1, -1, -1)]  # fmt: skip


def activity_card(
    project: Project, per_week: list[tuple[date, int]], options: Options, today: date | None = None
) -> str:
    """Commits per week over the last 52 weeks, as bars."""
    theme, width = options.theme, options.width
    room = width - 2 * PAD
    series = weeks(per_week, today or datetime.now(UTC).date())
    top = max((n for _, n in series), default=0)
    name = project.display_name or project.name
    body = [text(PAD, 32, f"{name}: commits per week", size=16, fill=theme.title, room=room, weight="600")]
    total = sum(n for _, n in series)
    caption = f"{number(total, options.locale)} commits in 52 weeks"
    body.append(text(PAD, 52, caption, size=12, fill=theme.muted, room=room))
    chart_top, chart_height = 64, 60
    step = room / len(series)
    for index, (monday, commits) in enumerate(series):
        height = 0 if top == 0 else max(chart_height * commits / top, 1.5 if commits else 0)
        fill = theme.title if commits else theme.track
        bar = max(height, 1.5)
        body.append(f'<rect x="{PAD + index * step:.1f}" y="{chart_top + chart_height - bar:.1f}" '
                    f'width="{max(step - 1.5, 1):.1f}" height="{bar:.1f}" fill="{fill}">'
                    f"<title>{monday.isoformat()}: {commits}</title></rect>")  # fmt: skip
    return card(width, chart_top + chart_height + 16, theme, f"{project.full_name}: commits per week", body)
