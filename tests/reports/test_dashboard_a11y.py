"""The dashboard's accessibility in headless Chromium: labelled controls, keyboard sorting, text contrast."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.api.test_cards import projects  # noqa: F401 - the fixture
from tests.reports.test_charts_browser import CHROMIUM, browser  # noqa: F401 - the fixture
from tests.reports.test_dashboard_browser import admin_app, admin_url, open_page  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no Chromium")]
CONTROL_ROLES = {"button", "textbox", "searchbox", "combobox", "checkbox", "radio", "progressbar", "slider",
                 "spinbutton", "listbox", "switch"}  # fmt: skip
SORT_BUTTONS = ["Project", "Language", "Lines written", "Lines of code", "Commits", "Active days", "Stars", "Forks",
                "Last commit"]  # fmt: skip
# Each visible element that holds text directly: its text colour and the background colours from it up to <html>.
TEXT_STYLES = """
() => {
  const out = [];
  const inSvg = (el) => el.closest("svg") !== null;
  const chain = (el) => {
    const backgrounds = [];
    for (let node = el; node; node = node.parentElement) { backgrounds.push(getComputedStyle(node).backgroundColor); }
    return backgrounds;
  };
  for (const el of document.body.querySelectorAll("*")) {
    if (inSvg(el) || ["SCRIPT", "STYLE", "NOSCRIPT"].includes(el.tagName) || el.disabled) { continue; }
    const style = getComputedStyle(el);
    const own = Array.from(el.childNodes).some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
    const shown = style.visibility === "visible" && el.getClientRects().length > 0;
    if (own && shown) {
      out.push({what: el.tagName.toLowerCase() + (el.id ? "#" + el.id : ""), text: el.textContent.trim().slice(0, 30),
                color: style.color, opacity: style.opacity, backgrounds: chain(el)});
    }
    if (el.placeholder) {
      out.push({what: el.tagName.toLowerCase() + "#" + el.id + "::placeholder", text: el.placeholder,
                color: getComputedStyle(el, "::placeholder").color, opacity: "1", backgrounds: chain(el)});
    }
  }
  return out;
}
"""


def rgba(css: str) -> tuple[float, float, float, float]:
    """Parse a computed colour, `rgb(r, g, b)` or `rgba(r, g, b, a)`, into channels 0 to 255 and alpha 0 to 1."""
    found = re.fullmatch(r"rgba?\((\d+(?:\.\d+)?), (\d+(?:\.\d+)?), (\d+(?:\.\d+)?)(?:, ([\d.]+))?\)", css)
    assert found, f"unexpected computed colour {css!r}"
    red, green, blue, alpha = found.groups()
    return float(red), float(green), float(blue), 1.0 if alpha is None else float(alpha)


def over(top: tuple[float, float, float, float], below: tuple[float, float, float]) -> tuple[float, float, float]:
    """Composite a colour with alpha over an opaque one."""
    alpha = top[3]
    return tuple(alpha * top[i] + (1 - alpha) * below[i] for i in range(3))  # type: ignore[return-value]


def luminance(colour: tuple[float, float, float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    linear = []
    for channel in colour:
        c = channel / 255
        linear.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: tuple[float, float, float], second: tuple[float, float, float]) -> float:
    light, dark = sorted([luminance(first), luminance(second)], reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_contrast_helpers_match_known_ratios() -> None:
    white, black = (255.0, 255.0, 255.0), (0.0, 0.0, 0.0)
    assert round(contrast(white, black), 2) == 21.0
    assert round(contrast(white, (118.0, 118.0, 118.0)), 2) == 4.54  # #767676, the lightest grey passing on white
    assert over((0.0, 0.0, 0.0, 0.5), white) == (127.5, 127.5, 127.5)
    assert rgba("rgba(1, 2, 3, 0.25)") == (1.0, 2.0, 3.0, 0.25)


def accessible_controls(context: Any, page: Any) -> list[tuple[str, str]]:
    """Every form control in Chromium's own accessibility tree, as (role, accessible name)."""
    session = context.new_cdp_session(page)
    tree = session.send("Accessibility.getFullAXTree")["nodes"]
    controls = []
    for node in tree:
        role = node.get("role", {}).get("value")
        if role in CONTROL_ROLES and not node.get("ignored"):
            controls.append((role, str(node.get("name", {}).get("value", "")).strip()))
    return controls


def test_every_form_control_has_an_accessible_name(browser: Any, admin_url: str, projects: None) -> None:  # noqa: F811
    context, page, errors = open_page(browser, admin_url + "/dashboard")
    try:
        controls = accessible_controls(context, page)
        dom_controls = page.locator("input, select, textarea, button, progress").count()
    finally:
        context.close()
    assert len(controls) == dom_controls == 15
    assert [name for _, name in controls if not name] == []
    assert sorted(controls) == sorted(
        [("button", name) for name in SORT_BUTTONS]
        + [
            ("searchbox", "Filter projects"),
            ("textbox", "Admin token (kept for this browser session only)"),
            ("button", "Use token"),
            ("button", "Forget token"),
            ("button", "Refresh all projects"),
            ("progressbar", "Progress"),
        ]
    )
    assert errors == []


def focused(page: Any) -> str:
    return page.evaluate("document.activeElement.tagName + ':' + document.activeElement.textContent.trim()")


def test_sort_controls_work_from_the_keyboard(
    browser: Any,  # noqa: F811
    admin_url: str,  # noqa: F811
    admin_app: Any,  # noqa: F811
    projects: None,  # noqa: F811
) -> None:
    api = admin_app.test_client().get("/api/projects").get_json()
    context, page, errors = open_page(browser, admin_url + "/dashboard")
    try:
        reached = []
        for _ in range(40):  # Tab from the top of the page until the first project link
            page.keyboard.press("Tab")
            reached.append(focused(page))
            if reached[-1].startswith("A:") and page.evaluate("document.activeElement.closest('tbody') !== null"):
                break
        buttons = [entry.split(":", 1)[1] for entry in reached if entry.startswith("BUTTON:")]
        assert buttons == SORT_BUTTONS
        while focused(page) != "BUTTON:Commits":
            page.keyboard.press("Shift+Tab")
        outline = page.evaluate("[getComputedStyle(document.activeElement).outlineStyle,"
                                " getComputedStyle(document.activeElement).outlineWidth]")  # fmt: skip
        assert outline == ["solid", "3px"]
        heading = page.locator('th[data-key="commits"]')
        order = page.locator("#projects tbody tr")
        by_commits = [p["full_name"] for p in sorted(api, key=lambda p: p["commits"])]
        page.keyboard.press("Enter")
        assert heading.get_attribute("aria-sort") == "ascending"
        assert [order.nth(i).get_attribute("data-full-name") for i in range(order.count())] == by_commits
        page.keyboard.press("Enter")
        assert heading.get_attribute("aria-sort") == "descending"
        assert [order.nth(i).get_attribute("data-full-name") for i in range(order.count())] == by_commits[::-1]
        page.keyboard.press("Space")
        assert heading.get_attribute("aria-sort") == "ascending"
        assert page.locator('th[data-key="name"]').get_attribute("aria-sort") == "none"
    finally:
        context.close()
    assert errors == []


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard/projects/octo/tracker"])
def test_text_contrast_is_at_least_4_5(browser: Any, admin_url: str, projects: None, path: str) -> None:  # noqa: F811
    context, page, errors = open_page(browser, admin_url + path)
    try:
        page.locator("#filter, #chart-loc").first.wait_for()
        styles = page.evaluate(TEXT_STYLES)
    finally:
        context.close()
    assert len(styles) > 20
    failing = []
    for item in styles:
        behind = (255.0, 255.0, 255.0)  # the canvas under <html>
        for css in reversed(item["backgrounds"]):
            behind = over(rgba(css), behind)
        colour = rgba(item["color"])
        shown = over((*colour[:3], colour[3] * float(item["opacity"])), behind)
        ratio = contrast(shown, behind)
        if ratio < 4.5:
            failing.append((item["what"], item["text"], item["color"], round(ratio, 2)))
    assert failing == []
    assert errors == []
