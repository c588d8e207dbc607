"""Serve the Swagger UI files from the installed swagger-ui-bundle package (no CDN)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import swagger_ui_bundle
from apiflask import APIFlask
from flask import Blueprint, send_from_directory
from flask.typing import ResponseReturnValue

PREFIX = "/docs-assets"
bp = Blueprint("docs", __name__)


def swagger_ui_config() -> dict[str, Any]:
    """Return APIFlask settings that point /docs at the locally served files."""
    return {
        "SWAGGER_UI_CSS": f"{PREFIX}/swagger-ui.css",
        "SWAGGER_UI_BUNDLE_JS": f"{PREFIX}/swagger-ui-bundle.js",
        "SWAGGER_UI_STANDALONE_PRESET_JS": f"{PREFIX}/swagger-ui-standalone-preset.js",
        "DOCS_FAVICON": f"{PREFIX}/favicon-32x32.png",
    }


@bp.get(f"{PREFIX}/<path:filename>")
def asset(filename: str) -> ResponseReturnValue:
    """Send one Swagger UI file."""
    return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)


def document_bodies(spec: dict[str, Any]) -> dict[str, Any]:
    """Mark every JSON request body required, and document the 400 answered when it is not JSON."""
    not_json = {
        "description": "The body is not JSON",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}},
    }
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if body and "application/json" in body.get("content", {}):
                body["required"] = True
                operation.setdefault("responses", {}).setdefault("400", not_json)
    return spec


def add_spec_processor(app: APIFlask, processor: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Run `processor` on the OpenAPI description after those already added.

    APIFlask keeps one `spec_callback`; registering a second one with `spec_processor` would drop the first.
    """
    earlier = app.spec_callback
    app.spec_callback = processor if earlier is None else (lambda spec: processor(earlier(spec)))
