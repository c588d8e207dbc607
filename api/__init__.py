"""HTTP: blueprints (one module per group of routes, each with `bp`), request and response
schemas, auth, JSON errors and docs assets.

May import: `refresh`, `events`, `reports`, `gh`, `analysis`, `models`, `infra`, `settings`.
"""

from __future__ import annotations

import importlib

from apiflask import APIFlask

# One line per blueprint module; each defines `bp`.
BLUEPRINT_MODULES = [
    "api.meta",
    "api.projects",
    "api.refresh",
    "api.commits",
    "api.repos",
    "api.events",
    "api.charts",
    "api.cards",
    "api.dashboard",
    "api.webhooks",
    "api.docs",
]


def register_blueprints(app: APIFlask) -> None:
    """Attach every blueprint of the service to the app."""
    for name in BLUEPRINT_MODULES:
        app.register_blueprint(importlib.import_module(name).bp)
    from api.docs import add_spec_processor, document_bodies

    add_spec_processor(app, document_bodies)
