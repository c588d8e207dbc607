"""Register the HTTP API's blueprints (one module per group of routes, each with `bp`)."""

from __future__ import annotations

from apiflask import APIFlask


def register_blueprints(app: APIFlask) -> None:
    """Attach every blueprint of the service to the app."""
    import docs_assets
    from api import meta, projects, refresh

    for module in (meta, projects, refresh, docs_assets):
        app.register_blueprint(module.bp)
