"""SVG building blocks of the cards: themes, options, escaping, text fitting, number formatting."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from xml.sax.saxutils import escape, quoteattr

from babel import Locale, UnknownLocaleError
from babel.numbers import format_compact_decimal, format_decimal

FONT = "'Segoe UI', Ubuntu, 'DejaVu Sans', Helvetica, Arial, sans-serif"
MIN_WIDTH, MAX_WIDTH = 250, 1000
MAX_LIMIT = 20


@dataclass(frozen=True)
class Theme:
    """A card's colours: background, border, title, text, muted text, bar track."""

    background: str
    border: str
    title: str
    text: str
    muted: str
    track: str


THEMES = {
    "light": Theme("#ffffff", "#d0d7de", "#0969da", "#1f2328", "#59636e", "#eaeef2"),
    "dark": Theme("#0d1117", "#30363d", "#58a6ff", "#e6edf3", "#9198a1", "#21262d"),
    "dim": Theme("#22272e", "#444c56", "#6cb6ff", "#adbac7", "#909dab", "#2d333b"),
    "solarized": Theme("#fdf6e3", "#eee8d5", "#268bd2", "#073642", "#586e75", "#eee8d5"),
    "high-contrast": Theme("#000000", "#ffffff", "#ffff00", "#ffffff", "#ffffff", "#444444"),
}


class CardOptionError(ValueError):
    """An option of a card request is invalid; the message says which and why."""


@dataclass(frozen=True)
class Options:
    """Validated card options."""

    theme: Theme
    width: int
    hide: frozenset[str]
    limit: int
    locale: Locale
    all_lines: bool


def parse_options(args: dict[str, str], *, default_width: int, default_limit: int) -> Options:
    """Validate the query options of a card; raise CardOptionError naming the first bad one."""
    known = {"theme", "width", "hide", "limit", "locale", "lines"}
    unknown = sorted(set(args) - known)
    if unknown:
        raise CardOptionError(f"unknown option {unknown[0]!r}")
    theme = args.get("theme", "light")
    if theme not in THEMES:
        raise CardOptionError(f"theme must be one of {', '.join(THEMES)}")
    width = _integer(args, "width", default_width, MIN_WIDTH, MAX_WIDTH)
    limit = _integer(args, "limit", default_limit, 1, MAX_LIMIT)
    hide = frozenset(part.strip().lower() for part in args.get("hide", "").split(",") if part.strip())
    lines = args.get("lines", "authored")
    if lines not in {"authored", "all"}:
        raise CardOptionError("lines must be authored or all")
    return Options(THEMES[theme], width, hide, limit, _locale(args.get("locale", "en")), lines == "all")


def _integer(args: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise CardOptionError(f"{name} must be a whole number from {low} to {high}")
    return int(raw)


@cache
def _known_locale(name: str) -> Locale:
    return Locale.parse(name, sep="-" if "-" in name else "_")


def _locale(name: str) -> Locale:
    if len(name) > 20 or not name.replace("-", "").replace("_", "").isalnum():
        raise CardOptionError("locale must be a locale name such as en, de or pt-BR")
    try:
        return _known_locale(name)
    except (UnknownLocaleError, ValueError):
        raise CardOptionError("locale must be a locale name such as en, de or pt-BR") from None


def number(value: float, locale: Locale) -> str:
    """Format a count for a card: exact below 10,000, compact (12K) above, in the reader's locale."""
    if abs(value) < 10_000:
        return format_decimal(value, locale=locale)
    return format_compact_decimal(value, locale=locale, fraction_digits=1)


# Advance widths of DejaVu Sans (the widest of the fallback fonts), in ems, by character class.
_NARROW = set("iljtfrI.,:;'!|()[] ")
_WIDE = set("mwMWOQGDHNU@%&")


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Return an upper estimate of the rendered width of `text` at `size` px (font metrics approximation).

    Bold faces are about 15% wider than regular ones.
    """
    ems = 0.0
    for char in text:
        if char in _NARROW:
            ems += 0.36
        elif char in _WIDE or ord(char) > 0x2E80:  # CJK and wide symbols take a full em
            ems += 1.0 if ord(char) > 0x2E80 else 0.9
        elif char.isupper() or char.isdigit():
            ems += 0.72
        else:
            ems += 0.62
    return ems * size * (1.15 if bold else 1.0)


def fit(text: str, size: float, room: float, bold: bool = False) -> str:
    """Return `text`, or its longest prefix plus an ellipsis, that fits `room` px at `size` px."""
    if text_width(text, size, bold) <= room:
        return text
    while text and text_width(text + "…", size, bold) > room:
        text = text[:-1]
    return text.rstrip() + "…" if text else ""


def text(x: float, y: float, content: str, *, size: float, fill: str, room: float, weight: str = "400",
         anchor: str = "start", cls: str = "t") -> str:  # fmt: skip
    """Return an escaped <text> element whose content is truncated to `room` px."""
    shown = fit(content, size, room, bold=int(weight) >= 600)
    return (f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" font-size="{size:g}" font-weight="{weight}" '
            f'fill="{fill}" text-anchor="{anchor}" data-room="{room:.1f}">{escape(shown)}</text>')  # fmt: skip


def card(width: int, height: int, theme: Theme, title: str, body: list[str]) -> str:
    """Wrap body elements in a card: the outer <svg> with its title (for screen readers) and frame."""
    label = quoteattr(title)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label={label} font-family="{escape(FONT)}">'
        f"<title>{escape(title)}</title>"
        f'<rect x="0.5" y="0.5" rx="6" width="{width - 1}" height="{height - 1}" fill="{theme.background}" '
        f'stroke="{theme.border}"/>' + "".join(body) + "</svg>"
    )


def error_card(message: str, theme: Theme | None = None) -> str:
    """Return a small card that shows an error (an <img> cannot show a JSON error)."""
    theme = theme or THEMES["light"]
    width = 400
    body = [
        text(16, 28, "Card unavailable", size=14, fill="#cf222e", room=width - 32, weight="600"),
        text(16, 52, message, size=12, fill=theme.text, room=width - 32),
    ]
    return card(width, 70, theme, f"Card unavailable: {message}", body)
