"""Read the service's configuration from the environment, in one place.

`Settings.from_env()` is the only code that reads `os.environ` for the service's own settings
(through pydantic-settings); tests build `Settings` from a mapping of the same variable names
instead (`create_app({...})`). Each setting, its variable and its default are written once, below.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
DEFAULT_API_URL = "https://api.github.com"
DEFAULT_GITLAB_HOSTS = ("gitlab.com",)
# Comma-separated in the environment ("a, b,c"); never JSON-decoded.
CommaList = Annotated[tuple[str, ...], NoDecode]


class SettingsError(ValueError):
    """A configuration value cannot be used."""


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


def env(name: str) -> Any:
    """Name the environment variable a setting is read from."""
    return AliasChoices(name)


class Settings(BaseSettings):
    """Everything the service can be configured with; see README.md "Configuration".

    Fields are read from the environment variable named by their alias; `""` means unset.
    Empty `database_url`, `github_git_host` and `cache_dir` are derived from the others.
    """

    model_config = SettingsConfigDict(frozen=True, env_ignore_empty=True, extra="ignore", case_sensitive=False)

    database_url: str = Field("", validation_alias=env("DATABASE_URL"))
    redis_url: str | None = Field(None, validation_alias=env("REDIS_URL"))
    github_token: str | None = Field(None, validation_alias=env("GITHUB_ACCESS_TOKEN"), repr=False)
    github_api_url: str = Field(DEFAULT_API_URL, validation_alias=env("GITHUB_API_URL"))
    github_git_host: str = Field("", validation_alias=env("GITHUB_GIT_HOST"))
    github_connect_timeout: float = Field(5.0, validation_alias=env("GITHUB_CONNECT_TIMEOUT"))
    github_read_timeout: float = Field(30.0, validation_alias=env("GITHUB_READ_TIMEOUT"))
    github_max_retries: int = Field(4, validation_alias=env("GITHUB_MAX_RETRIES"))
    github_backoff_base: float = Field(0.5, validation_alias=env("GITHUB_BACKOFF_BASE"))
    github_backoff_max: float = Field(30.0, validation_alias=env("GITHUB_BACKOFF_MAX"))
    github_rate_floor: int = Field(50, validation_alias=env("GITHUB_RATE_FLOOR"))
    github_max_pause: float = Field(900.0, validation_alias=env("GITHUB_MAX_PAUSE"))
    admin_token: str | None = Field(None, validation_alias=env("ADMIN_TOKEN"), repr=False)
    card_max_age: int = Field(1800, ge=0, validation_alias=env("CARD_MAX_AGE"))
    trusted_proxies: int = Field(0, ge=0, le=10, validation_alias=env("TRUSTED_PROXIES"))
    rate_limit_refresh: str = Field("10 per minute", validation_alias=env("RATE_LIMIT_REFRESH"))
    rate_limit_costly: str = Field("30 per minute", validation_alias=env("RATE_LIMIT_COSTLY"))
    webhook_secret: str | None = Field(None, validation_alias=env("WEBHOOK_SECRET"), repr=False)
    webhook_retention_days: int = Field(14, validation_alias=env("WEBHOOK_RETENTION_DAYS"))
    cors_origins: CommaList = Field(DEFAULT_CORS_ORIGINS, validation_alias=env("CORS_ORIGINS"))
    port: int = Field(5001, validation_alias=env("PORT"))
    http_max_age: int = Field(60, ge=0, validation_alias=env("HTTP_MAX_AGE"))
    http_stale_while_revalidate: int = Field(300, ge=0, validation_alias=env("HTTP_STALE_WHILE_REVALIDATE"))
    http_version_ttl: float = Field(1.0, ge=0, validation_alias=env("HTTP_VERSION_TTL"))
    cloc_path: str | None = Field(None, validation_alias=env("CLOC_PATH"))
    excluded_dirs: CommaList = Field(DEFAULT_EXCLUDED_DIRS, validation_alias=env("EXCLUDED_DIRS"))
    refresh_interval_hours: float = Field(24.0, validation_alias=env("REFRESH_INTERVAL_HOURS"))
    refresh_cooldown_seconds: int = Field(300, validation_alias=env("REFRESH_COOLDOWN"))
    refresh_stale_seconds: int = Field(1800, validation_alias=env("REFRESH_STALE_SECONDS"))
    cache_dir: str = Field("", validation_alias=env("CACHE_DIR"))
    cache_max_gb: float = Field(10.0, validation_alias=env("CACHE_MAX_GB"))
    git_timeout_seconds: int = Field(900, validation_alias=env("GIT_TIMEOUT_SECONDS"))
    git_allow_file_urls: bool = Field(False, validation_alias=env("GIT_ALLOW_FILE_URLS"))
    git_malloc: str = Field("libmimalloc.so.2", validation_alias=env("GIT_MALLOC"))
    max_worker_memory_mb: int = Field(512, validation_alias=env("MAX_WORKER_MEMORY_MB"))
    large_file_bytes: int = Field(8 * 1024 * 1024, validation_alias=env("LARGE_FILE_BYTES"))
    job_timeout_seconds: int = Field(3600, validation_alias=env("JOB_TIMEOUT_SECONDS"))
    run_scheduler: bool = Field(True, validation_alias=env("RUN_SCHEDULER"))
    event_sources: CommaList = Field(DEFAULT_EVENT_SOURCES, validation_alias=env("EVENT_SOURCES"))
    events_poll_seconds: int = Field(60, validation_alias=env("EVENTS_POLL_SECONDS"))
    events_retention_days: int = Field(90, validation_alias=env("EVENTS_RETENTION_DAYS"))
    log_level: str = Field("INFO", validation_alias=env("LOG_LEVEL"))
    instance_path: str = Field("", validation_alias=env("INSTANCE_PATH"))
    log_format: str = Field("text", validation_alias=env("LOG_FORMAT"))
    allow_local_repositories: bool = Field(False, validation_alias=env("ALLOW_LOCAL_REPOSITORIES"))
    # "host[:port]=token,…": the token reaches git only on that host's http(s) URLs
    git_host_tokens: CommaList = Field((), validation_alias=env("GIT_HOST_TOKENS"), repr=False)
    # hosts whose repositories are GitLab projects: stars, forks, description, branch, visibility from /api/v4
    gitlab_hosts: CommaList = Field(DEFAULT_GITLAB_HOSTS, validation_alias=env("GITLAB_HOSTS"))
    gitlab_timeout: float = Field(30.0, gt=0, validation_alias=env("GITLAB_TIMEOUT"))
    gitlab_max_retries: int = Field(2, ge=0, le=10, validation_alias=env("GITLAB_MAX_RETRIES"))
    gitlab_rate_floor: int = Field(5, ge=0, validation_alias=env("GITLAB_RATE_FLOOR"))
    gitlab_max_pause: float = Field(60.0, ge=0, validation_alias=env("GITLAB_MAX_PAUSE"))
    otel_endpoint: str | None = Field(None, validation_alias=env("OTEL_EXPORTER_OTLP_ENDPOINT"))
    otel_service_name: str = Field("project-tracker", validation_alias=env("OTEL_SERVICE_NAME"))

    @field_validator("cors_origins", "excluded_dirs", "event_sources", "git_host_tokens", "gitlab_hosts", mode="before")
    @classmethod
    def _split_list(cls, raw: Any) -> Any:
        if isinstance(raw, str):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        return raw

    @field_validator("log_level")
    @classmethod
    def _upper(cls, raw: str) -> str:
        return raw.upper()

    @field_validator("log_format")
    @classmethod
    def _lower(cls, raw: str) -> str:
        return raw.lower()

    @model_validator(mode="before")
    @classmethod
    def _derived_defaults(cls, data: Any) -> Any:
        """Fill the settings whose defaults depend on others (instance folder, GitHub host)."""
        if not isinstance(data, Mapping):
            return data
        v = {str(k).upper(): val for k, val in data.items() if val is not None and val != ""}
        instance = Path(str(v.get("INSTANCE_PATH") or Path.cwd() / "instance"))
        api_url = str(v.get("GITHUB_API_URL", DEFAULT_API_URL)).rstrip("/")
        v["INSTANCE_PATH"] = str(instance)
        v["GITHUB_API_URL"] = api_url
        v["DATABASE_URL"] = normalise_database_url(
            str(v.get("DATABASE_URL") or f"sqlite:///{instance / 'project_tracker.sqlite'}")
        )
        v.setdefault("GITHUB_GIT_HOST", git_host_for(api_url))
        v.setdefault("CACHE_DIR", str(instance / "cache"))
        return v

    @property
    def embedded(self) -> bool:
        """True when jobs run in a thread of the web process instead of on RQ workers."""
        return not self.redis_url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def secrets(self) -> tuple[str, ...]:
        """Return every configured secret value, for redaction."""
        tokens = tuple(self.host_tokens().values())
        return tuple(s for s in (self.github_token, self.admin_token, self.webhook_secret, *tokens) if s)

    def host_tokens(self) -> dict[str, str]:
        """Return {lower-case host[:port]: token} of GIT_HOST_TOKENS."""
        pairs = (entry.partition("=") for entry in self.git_host_tokens)
        return {host.strip().lower(): token.strip() for host, _, token in pairs if host.strip() and token.strip()}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, instance_path: str = "") -> Settings:
        """Build settings from environment variables (defaults for everything unset)."""
        if environ is not None:
            return cls.from_mapping(environ, instance_path=instance_path)
        try:
            # The caller's folder (Flask's instance_path) is only a default: INSTANCE_PATH wins.
            fallback = instance_path if instance_path and not os.environ.get("INSTANCE_PATH") else ""
            settings = cls(**({"INSTANCE_PATH": fallback} if fallback else {}))
        except ValidationError as exc:
            raise SettingsError(f"invalid configuration: {_problems(exc)}") from None
        settings.validate()
        return settings

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], instance_path: str = "") -> Settings:
        """Build settings from a mapping of the documented environment variable names (no environment)."""
        data = {k: val for k, val in values.items() if val is not None and val != ""}
        if instance_path and not data.get("INSTANCE_PATH"):
            data["INSTANCE_PATH"] = instance_path
        try:
            settings = cls.model_validate(data)  # validation only: model_validate never reads os.environ
        except ValidationError as exc:
            raise SettingsError(f"invalid configuration: {_problems(exc)}") from None
        settings.validate()
        return settings

    def validate(self) -> None:  # type: ignore[override]
        """Reject values that cannot work (raised at start, not at the first refresh)."""
        if self.refresh_interval_hours <= 0:
            raise SettingsError("REFRESH_INTERVAL_HOURS must be > 0")
        if self.cache_max_gb <= 0:
            raise SettingsError("CACHE_MAX_GB must be > 0")
        if self.max_worker_memory_mb < 64:
            raise SettingsError("MAX_WORKER_MEMORY_MB must be >= 64")
        if self.large_file_bytes < 1024:
            raise SettingsError("LARGE_FILE_BYTES must be >= 1024")
        if not re.fullmatch(r"[A-Za-z0-9._+/-]*", self.git_malloc):
            raise SettingsError("GIT_MALLOC must be a library file name or path (or empty)")
        if urlsplit(self.github_api_url).scheme not in {"http", "https"}:
            raise SettingsError("GITHUB_API_URL must be an http(s) URL")
        if any("=" not in entry for entry in self.git_host_tokens):
            raise SettingsError("GIT_HOST_TOKENS entries are host=token")
        if self.log_format not in {"text", "json"}:
            raise SettingsError("LOG_FORMAT must be text or json")
        if self.otel_endpoint and urlsplit(self.otel_endpoint).scheme not in {"http", "https"}:
            raise SettingsError("OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL")

    def with_overrides(self, **changes: Any) -> Settings:
        """Return a copy with some fields replaced (tests and benchmarks)."""
        unknown = set(changes) - set(type(self).model_fields)
        if unknown:
            raise SettingsError(f"unknown settings: {sorted(unknown)}")
        return self.model_copy(update=changes)


def _problems(exc: ValidationError) -> str:
    """Name each bad variable and why, without echoing its value (it may be a secret)."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
