"""Create the Flask application (the app factory) and expose `app` for gunicorn.

`gunicorn app:app` works, yet importing this module creates nothing: `app` is built on first
access (PEP 562 module `__getattr__`), so tests and jobs build their own with `create_app`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from apiflask import APIFlask
from werkzeug.middleware.proxy_fix import ProxyFix

from api import errors, http_cache
from infra import telemetry
from infra.admin import instance_admin_token
from infra.extensions import cors, db, install_sqlite_pragmas, limiter, migrate
from infra.redaction import install_log_redaction
from infra.runtime import EXTENSION_KEY, RedisUnreachable, build_runtime
from models import render_item
from settings import Settings

ROOT = Path(__file__).resolve().parent
MIGRATIONS_DIR = ROOT / "migrations"
API_VERSION = "1.0.0"
log = logging.getLogger(__name__)


def _settings_for(app: APIFlask, config: Mapping[str, Any] | Settings | None) -> Settings:
    if isinstance(config, Settings):
        return config
    if config is None:
        return Settings.from_env(instance_path=app.instance_path)
    return Settings.from_mapping(config, instance_path=app.instance_path)


def configure_logging(settings: Settings) -> None:
    """Log to stderr at LOG_LEVEL, with every secret masked."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root.setLevel(settings.log_level)
    # APScheduler logs every tick at INFO: keep its warnings and errors only.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
    install_log_redaction(settings.secrets())
    telemetry.configure_log_format(settings.log_format)


def _flask_config(app: APIFlask, settings: Settings) -> None:
    from api.docs import swagger_ui_config

    engine_options: dict[str, Any] = {"pool_pre_ping": True}
    if settings.is_sqlite:
        # Threads of the embedded mode share the file; wait for locks instead of failing.
        engine_options["connect_args"] = {"timeout": 30}
    app.config.update(
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options,
        MAX_CONTENT_LENGTH=1024 * 1024,
        HTTP_ERROR_SCHEMA=errors.ERROR_SCHEMA,
        VALIDATION_ERROR_SCHEMA=errors.ERROR_SCHEMA,
        VALIDATION_ERROR_DESCRIPTION="Invalid input",
        INFO={"description": "Metrics, history and events of tracked GitHub repositories."},
        SECURITY_SCHEMES={
            "AdminToken": {"type": "http", "scheme": "bearer"},
            # GitHub's signature: sha256=<hex HMAC-SHA256 of the raw body keyed by WEBHOOK_SECRET>
            "WebhookSignature": {"type": "apiKey", "in": "header", "name": "X-Hub-Signature-256"},
        },
        **swagger_ui_config(),
    )


def create_app(config: Mapping[str, Any] | Settings | None = None) -> APIFlask:
    """Build the app from `config` (a mapping of env-style names, or Settings) or the environment."""
    app = APIFlask(
        __name__,
        title="Project Tracker API",
        version=API_VERSION,
        spec_path="/openapi.json",
        docs_path="/docs",
        instance_relative_config=True,
    )
    app.json.sort_keys = False  # keep the documented field order (seed 003's keys first, …)
    settings = _settings_for(app, config)
    Path(settings.instance_path).mkdir(parents=True, exist_ok=True)
    generated_in = None
    if not settings.admin_token:
        # Secure by default: writes and private repositories need a token even when none was configured.
        token, generated_in = instance_admin_token(settings.instance_path)
        settings = settings.model_copy(update={"admin_token": token})
    configure_logging(settings)
    _flask_config(app, settings)
    if settings.trusted_proxies:
        # Client addresses (and scheme/host) from X-Forwarded-* only through this many trusted hops.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    install_sqlite_pragmas()
    db.init_app(app)
    telemetry.setup(settings)
    with app.app_context():
        telemetry.instrument_app(app, db.engine)
    migrate.init_app(
        app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True, compare_type=True, render_item=render_item
    )
    cors.init_app(app, resources={r"/*": {"origins": list(settings.cors_origins)}})
    app.config["RATELIMIT_STORAGE_URI"] = settings.redis_url or "memory://"
    limiter.init_app(app)
    errors.init_app(app)
    http_cache.init_app(app)

    from api import register_blueprints

    register_blueprints(app)
    app.extensions[EXTENSION_KEY] = build_runtime(app, settings)
    from cli import commands

    commands.init_app(app)
    if generated_in is not None:
        log.warning(
            "ADMIN_TOKEN is not set: using the generated admin token stored in %s (writes need it)", generated_in
        )
    return app


def start_embedded_services(app: APIFlask) -> None:
    """Upgrade a SQLite database and, with no Redis, start the in-process scheduler."""
    from flask_migrate import upgrade

    from scheduler import start_in_process

    settings = app.extensions[EXTENSION_KEY].settings
    if settings.is_sqlite:
        with app.app_context():
            upgrade(directory=str(MIGRATIONS_DIR))
    if settings.embedded and settings.run_scheduler:
        start_in_process(app)


def __getattr__(name: str) -> Any:
    # `gunicorn app:app` and `flask --app app` look this attribute up: build it then, once.
    if name == "app":
        try:
            application = create_app()
        except RedisUnreachable as exc:
            log.critical("%s", exc)
            raise SystemExit(f"project-tracker cannot start: {exc}") from None
        globals()["app"] = application
        return application
    raise AttributeError(name)
