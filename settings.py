"""Read the service's configuration from the environment, in one place.

`Settings.from_env()` is the only code that reads `os.environ` for the service's own
settings; tests build `Settings` from a mapping instead (`create_app({...})`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_EXCLUDED_DIRS = (
    "node_modules",
    "dist",
    "build",
    ".venv",
    ".env",
    ".github",
    ".idea",
    ".vscode",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
)
DEFAULT_CORS_ORIGINS = ("http://127.0.0.1:5500", "http://localhost:5500", "http://localhost:3000")
DEFAULT_EVENT_SOURCES = ("repos",)


class SettingsError(ValueError):
    """A configuration value cannot be used."""


def _split_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _as_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"not a boolean: {raw!r}")


def normalise_database_url(url: str) -> str:
    """Return a SQLAlchemy URL that uses psycopg 3 for PostgreSQL (Heroku sends `postgres://`)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def git_host_for(api_url: str) -> str:
    """Return the host that serves git for a GitHub API URL (`api.github.com` → `github.com`)."""
    parts = urlsplit(api_url)
    host = parts.hostname or ""
    if host == "api.github.com":
        return "github.com"
    return f"{host}:{parts.port}" if parts.port else host


@dataclass(frozen=True)
class Settings:
    """Everything the service can be configured with; see README.md "Configuration"."""

    database_url: str = ""
    redis_url: str | None = None
    github_token: str | None = field(default=None, repr=False)
    github_api_url: str = "https://api.github.com"
    github_git_host: str = ""
    github_connect_timeout: float = 5.0
    github_read_timeout: float = 30.0
    github_max_retries: int = 4
    github_backoff_base: float = 0.5
    github_backoff_max: float = 30.0
    github_rate_floor: int = 50
    github_max_pause: float = 900.0
    admin_token: str | None = field(default=None, repr=False)
    cors_origins: tuple[str, ...] = DEFAULT_CORS_ORIGINS
    port: int = 5001
    cloc_path: str | None = None
    excluded_dirs: tuple[str, ...] = DEFAULT_EXCLUDED_DIRS
    refresh_interval_hours: float = 24.0
    refresh_cooldown_seconds: int = 300
    refresh_stale_seconds: int = 1800
    cache_dir: str = ""
    cache_max_gb: float = 10.0
    git_timeout_seconds: int = 900
    job_timeout_seconds: int = 3600
    run_scheduler: bool = True
    event_sources: tuple[str, ...] = DEFAULT_EVENT_SOURCES
    events_poll_seconds: int = 60
    events_retention_days: int = 90
    log_level: str = "INFO"
    instance_path: str = ""

    @property
    def embedded(self) -> bool:
        """True when jobs run in a thread of the web process instead of on RQ workers."""
        return not self.redis_url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def secrets(self) -> tuple[str, ...]:
        """Return every configured secret value, for redaction."""
        return tuple(s for s in (self.github_token, self.admin_token) if s)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, instance_path: str = "") -> Settings:
        """Build settings from environment variables (defaults for everything unset)."""
        env = os.environ if environ is None else environ
        return cls.from_mapping(env, instance_path=instance_path)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], instance_path: str = "") -> Settings:
        """Build settings from a mapping of the documented environment variable names."""
        v = {k: val for k, val in values.items() if val is not None and val != ""}
        instance = str(v.get("INSTANCE_PATH") or instance_path or Path.cwd() / "instance")
        api_url = str(v.get("GITHUB_API_URL", "https://api.github.com")).rstrip("/")
        try:
            settings = cls(
                database_url=normalise_database_url(
                    str(v.get("DATABASE_URL") or f"sqlite:///{Path(instance) / 'project_tracker.sqlite'}")
                ),
                redis_url=v.get("REDIS_URL") or None,
                github_token=v.get("GITHUB_ACCESS_TOKEN") or None,
                github_api_url=api_url,
                github_git_host=str(v.get("GITHUB_GIT_HOST") or git_host_for(api_url)),
                github_connect_timeout=float(v.get("GITHUB_CONNECT_TIMEOUT", 5.0)),
                github_read_timeout=float(v.get("GITHUB_READ_TIMEOUT", 30.0)),
                github_max_retries=int(v.get("GITHUB_MAX_RETRIES", 4)),
                github_backoff_base=float(v.get("GITHUB_BACKOFF_BASE", 0.5)),
                github_backoff_max=float(v.get("GITHUB_BACKOFF_MAX", 30.0)),
                github_rate_floor=int(v.get("GITHUB_RATE_FLOOR", 50)),
                github_max_pause=float(v.get("GITHUB_MAX_PAUSE", 900.0)),
                admin_token=v.get("ADMIN_TOKEN") or None,
                cors_origins=_split_list(str(v["CORS_ORIGINS"])) if "CORS_ORIGINS" in v else DEFAULT_CORS_ORIGINS,
                port=int(v.get("PORT", 5001)),
                cloc_path=v.get("CLOC_PATH") or None,
                excluded_dirs=_split_list(str(v["EXCLUDED_DIRS"])) if "EXCLUDED_DIRS" in v else DEFAULT_EXCLUDED_DIRS,
                refresh_interval_hours=float(v.get("REFRESH_INTERVAL_HOURS", 24.0)),
                refresh_cooldown_seconds=int(v.get("REFRESH_COOLDOWN", 300)),
                refresh_stale_seconds=int(v.get("REFRESH_STALE_SECONDS", 1800)),
                cache_dir=str(v.get("CACHE_DIR") or Path(instance) / "cache"),
                cache_max_gb=float(v.get("CACHE_MAX_GB", 10.0)),
                git_timeout_seconds=int(v.get("GIT_TIMEOUT_SECONDS", 900)),
                job_timeout_seconds=int(v.get("JOB_TIMEOUT_SECONDS", 3600)),
                run_scheduler=_as_bool(str(v.get("RUN_SCHEDULER", "true"))),
                event_sources=_split_list(str(v["EVENT_SOURCES"])) if "EVENT_SOURCES" in v else DEFAULT_EVENT_SOURCES,
                events_poll_seconds=int(v.get("EVENTS_POLL_SECONDS", 60)),
                events_retention_days=int(v.get("EVENTS_RETENTION_DAYS", 90)),
                log_level=str(v.get("LOG_LEVEL", "INFO")).upper(),
                instance_path=instance,
            )
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"invalid configuration: {exc}") from None
        settings.validate()
        return settings

    def validate(self) -> None:
        """Reject values that cannot work (raised at start, not at the first refresh)."""
        if self.refresh_interval_hours <= 0:
            raise SettingsError("REFRESH_INTERVAL_HOURS must be > 0")
        if self.cache_max_gb <= 0:
            raise SettingsError("CACHE_MAX_GB must be > 0")
        if urlsplit(self.github_api_url).scheme not in {"http", "https"}:
            raise SettingsError("GITHUB_API_URL must be an http(s) URL")

    def with_overrides(self, **changes: Any) -> Settings:
        """Return a copy with some fields replaced (tests and benchmarks)."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise SettingsError(f"unknown settings: {sorted(unknown)}")
        return replace(self, **changes)
