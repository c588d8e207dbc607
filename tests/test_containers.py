"""Dockerfile and docker-compose.yml agree with the Procfile and with settings.py."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import yaml

from settings import Settings

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = {"release": "migrate", "web": "web", "worker": "worker", "clock": "clock"}


def procfile() -> dict[str, list[str]]:
    lines = (ROOT / "Procfile").read_text(encoding="utf-8").splitlines()
    entries = [line.split(":", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {kind.strip(): shlex.split(command) for kind, command in entries}


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def dockerfile() -> list[tuple[str, str]]:
    """Return (instruction, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    pairs = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, args = line.strip().partition(" ")
            pairs.append((instruction.upper(), args.strip()))
    return pairs


def known_variables() -> set[str]:
    names = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        names.update(str(choice) for choice in getattr(alias, "choices", [alias]) if choice)
    return names


def test_compose_runs_exactly_the_procfile_commands() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", *APP_SERVICES.values()}
    for kind, command in procfile().items():
        assert services[APP_SERVICES[kind]]["command"] == command, kind


def test_compose_passes_only_settings_that_settings_py_knows() -> None:
    services = compose()["services"]
    known = known_variables()
    assert {"DATABASE_URL", "REDIS_URL", "GITHUB_ACCESS_TOKEN", "PORT"} <= known
    for name in APP_SERVICES.values():
        environment = services[name]["environment"]
        assert isinstance(environment, dict), name
        assert set(environment) <= known, (name, set(environment) - known)
        assert environment["DATABASE_URL"].startswith("postgresql://") and "@postgres:" in environment["DATABASE_URL"]
        assert environment["REDIS_URL"].startswith("redis://redis:")


def test_compose_starts_apps_after_the_migration_and_healthy_stores() -> None:
    services = compose()["services"]
    for name in ("web", "worker", "clock"):
        deps = services[name]["depends_on"]
        assert deps["migrate"] == {"condition": "service_completed_successfully"}
        assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy"
    assert set(services["migrate"]["depends_on"]) == {"postgres"}


def test_dockerfile_is_slim_non_root_with_git_cloc_and_the_pinned_requirements() -> None:
    steps = dockerfile()
    [base] = [args for instruction, args in steps if instruction == "FROM"]
    assert base.startswith("python:3.11-slim")
    runs = " ".join(args for instruction, args in steps if instruction == "RUN")
    assert "apt-get install -y --no-install-recommends git cloc" in runs
    assert "pip install -r requirements.txt" in runs
    users = [args for instruction, args in steps if instruction == "USER"]
    assert users and users[-1] not in {"root", "0"}
    [cmd] = [args for instruction, args in steps if instruction == "CMD"]
    assert json.loads(cmd) == procfile()["web"]
    assert all(args == "requirements.txt ./" or args.startswith("--chown=") for i, args in steps if i == "COPY")


def test_the_environments_instance_path_beats_flasks_default(monkeypatch: Any, tmp_path: Path) -> None:
    # The image sets INSTANCE_PATH=/data (its volume); Flask's own instance folder is only the fallback.
    [image_env] = [args for instruction, args in dockerfile() if instruction == "ENV" and "INSTANCE_PATH=" in args]
    assert "INSTANCE_PATH=/data" in image_env.split()
    volume = tmp_path / "data"
    for name in ("INSTANCE_PATH", "DATABASE_URL", "CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(volume))
    settings = Settings.from_env(instance_path=str(tmp_path / "flask-instance"))
    assert (settings.instance_path, settings.database_url, settings.cache_dir) == (
        str(volume),
        f"sqlite:///{volume / 'project_tracker.sqlite'}",
        str(volume / "cache"),
    )
    monkeypatch.delenv("INSTANCE_PATH")
    assert Settings.from_env(instance_path=str(tmp_path / "flask-instance")).instance_path == str(
        tmp_path / "flask-instance"
    )
