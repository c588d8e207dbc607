"""Cards in headless Chromium: every text fits its box and inside the card; screenshots as artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.api.test_cards import EVIL, projects  # noqa: F401 - the fixture
from tests.reports.test_charts_browser import CHROMIUM, browser, live_url  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no Chromium")]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "cards"
CARDS = {
    "pin": "/cards/projects/tracker.svg",
    "pin-long": "/cards/projects/other-" + "x" * 90 + ".svg",
    "languages": "/cards/languages.svg",
    "summary": "/cards/summary.svg",
    "activity": "/cards/projects/tracker/activity.svg",
    "error": "/cards/summary.svg?theme=neon",
}
MEASURE = """() => {
  const svg = document.querySelector('svg');
  const width = svg.width.baseVal.value;
  return [...svg.querySelectorAll('text')].map(t => {
    const box = t.getBBox();
    return {text: t.textContent, length: t.getComputedTextLength(), room: parseFloat(t.dataset.room),
            left: box.x, right: box.x + box.width, width};
  });
}"""


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("name", sorted(CARDS))
def test_card_text_fits_in_chromium(browser: Any, live_url: str, projects: None, name: str, theme: str) -> None:  # noqa: F811
    page = browser.new_page(viewport={"width": 1100, "height": 400})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    separator = "&" if "?" in CARDS[name] else "?"
    page.goto(f"{live_url}{CARDS[name]}{separator}theme={theme}")
    boxes = page.evaluate(MEASURE)
    assert boxes
    for box in boxes:
        assert box["length"] <= box["room"] + 0.5, box
        assert box["left"] >= 0 and box["right"] <= box["width"], box
    if name == "pin":
        assert EVIL in [box["text"] for box in boxes]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("svg").screenshot(path=str(ARTIFACTS / f"{name}-{theme}.png"))
    page.close()
    assert errors == [] or name == "error", errors
