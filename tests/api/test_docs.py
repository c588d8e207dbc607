"""Every route of the app is documented: in API_DOCUMENTATION.md, in the OpenAPI description and README."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNDOCUMENTED_PREFIXES = ("/static", "/docs", "/openapi.json", "/docs-assets", "/redoc")


def app_routes(app: Any) -> set[tuple[str, str]]:
    """Return (METHOD, /path/<param>) for every route a user can call."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(UNDOCUMENTED_PREFIXES) or rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"<\1>", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((method, path))
    return routes


def test_every_route_has_a_section_in_api_documentation(app: Any) -> None:
    text = (ROOT / "API_DOCUMENTATION.md").read_text()
    headings = set(re.findall(r"^#{2,4} `([A-Z]+) ([^`]+)`", text, flags=re.MULTILINE))
    missing = sorted(app_routes(app) - headings)
    assert missing == [], f"routes missing from API_DOCUMENTATION.md: {missing}"
    stale = sorted(headings - app_routes(app))
    assert stale == [], f"API_DOCUMENTATION.md documents routes that do not exist: {stale}"


def test_every_route_is_in_the_openapi_description(client: Any, app: Any) -> None:
    spec = client.get("/openapi.json").get_json()
    documented = {
        (method.upper(), re.sub(r"\{([a-z_]+)\}", r"<\1>", path))
        for path, operations in spec["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert sorted(app_routes(app) - documented) == []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation.get("responses"), f"{method} {path} has no response schema"


def test_docs_ui_is_served_without_a_cdn(client: Any) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, "the docs page loads no assets"
    for source in sources:
        assert source.startswith("/"), f"docs page loads {source} from elsewhere"
        with client.get(source) as asset:
            assert asset.status_code == 200, source


@pytest.mark.parametrize("variable", ["GITHUB_ACCESS_TOKEN", "DATABASE_URL", "REDIS_URL", "ADMIN_TOKEN"])
def test_readme_documents_configuration(variable: str) -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"`{variable}`" in readme


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:bash|sh)?\n(.*?)```", readme, flags=re.DOTALL)
    assert first_block is not None
    assert first_block.group(1).split() == ["make", "run", "make", "test"] or "make run" in first_block.group(1)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
