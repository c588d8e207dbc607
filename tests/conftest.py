"""Shared fixtures: real PostgreSQL and Redis servers, the app on each database, workers.

Every test that uses the database runs against PostgreSQL; tests marked `sqlite` run against
SQLite too (the `backend` parameter). Servers start once per test session (per xdist worker
database), and tables are emptied after each test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from werkzeug.test import EnvironBuilder

from tests.servers import PostgresServer, RedisServer

pytest_plugins = ["tests.fixtures_git", "tests.fixtures_github", "tests.refresh_helpers"]

ROOT = Path(__file__).resolve().parent.parent
TABLES = (
    "refresh_job_items", "refresh_jobs", "repo_updates", "commits", "deleted_repositories", "webhook_deliveries",
    "webhook_counts", "event_hours", "event_repos",
    "events", "event_sources", "http_cache", "loc_blobs", "projects",
)  # fmt: skip


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        backends = ["postgresql", "sqlite"] if metafunc.definition.get_closest_marker("sqlite") else ["postgresql"]
        metafunc.parametrize("backend", backends, scope="session")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = PostgresServer.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer.start()
    yield server
    server.stop()


def _worker_index(worker_id: str) -> int:
    return 0 if worker_id == "master" else int(worker_id.removeprefix("gw"))


def migrate(database_url: str, tmp: Path) -> None:
    """Create the schema the way production does: `flask db upgrade` (Alembic)."""
    env = {**os.environ, "DATABASE_URL": database_url, "INSTANCE_PATH": str(tmp), "RUN_SCHEDULER": "false"}
    env.pop("REDIS_URL", None)
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(scope="session")
def pg_database_url(pg_server: PostgresServer, worker_id: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = pg_server.create_database(f"tracker_test_{_worker_index(worker_id)}")
    migrate(url, tmp_path_factory.mktemp("pg-migrate"))
    return url


@pytest.fixture(scope="session")
def sqlite_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "tracker.sqlite"
    url = f"sqlite:///{path}"
    migrate(url, path.parent)
    return url


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> Iterator[str]:
    url = request.getfixturevalue("pg_database_url" if backend == "postgresql" else "sqlite_database_url")
    yield url
    empty_tables(url)


def empty_tables(url: str) -> None:
    """Delete every row the test wrote (faster than re-creating the schema)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES:
                conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - table names are the constant TABLES
    engine.dispose()


@pytest.fixture
def redis_url(redis_server: RedisServer, worker_id: str) -> str:
    import redis

    url = redis_server.url(_worker_index(worker_id))
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def config(database_url: str, tmp_path: Path, github: Any) -> dict[str, str]:
    """Return the environment-style settings of a test app (embedded mode, stand-in GitHub)."""
    return {
        "DATABASE_URL": database_url,
        "GITHUB_API_URL": github.api_url,
        "GITHUB_ACCESS_TOKEN": github.token,
        "RUN_SCHEDULER": "false",
        "CACHE_DIR": str(tmp_path / "cache"),
        "GIT_ALLOW_FILE_URLS": "true",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "GITHUB_BACKOFF_BASE": "0.01",
        "GITHUB_BACKOFF_MAX": "0.05",
        "GITHUB_MAX_RETRIES": "2",
        "GITHUB_MAX_PAUSE": "3",
        "REFRESH_COOLDOWN": "0",
        "LOG_LEVEL": "INFO",
        "ADMIN_TOKEN": TEST_ADMIN_TOKEN,
        "HTTP_VERSION_TTL": "0",  # workers write in other processes: reads ask for the data version every time
    }


TEST_ADMIN_TOKEN = "suite-admin-token"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class AdminClient(FlaskClient):
    """A test client whose writes present the suite's admin token unless the request sets its own headers.

    Writes need a token in every configuration now. Reads go out as an anonymous reader's, and a
    request with explicit `headers` (even `{}`) is sent as given.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        method = str(kwargs.get("method", "GET")).upper()
        builder = any(isinstance(a, EnvironBuilder) for a in args)
        if method in WRITE_METHODS and "headers" not in kwargs and not builder:
            kwargs["headers"] = {"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"}
        return super().open(*args, **kwargs)


def build_app(config: dict[str, str]) -> Any:
    from app import create_app

    application = create_app(config)
    application.test_client_class = AdminClient
    return application


def dispose_app(app: Any) -> None:
    """Let the jobs an embedded app started finish (tables are emptied next), then close it."""
    from infra.extensions import db
    from infra.runtime import runtime
    from infra.tasks import ThreadTaskQueue

    tasks = runtime(app).tasks
    if isinstance(tasks, ThreadTaskQueue):
        wait_for(lambda: not tasks.is_busy(), timeout=600, message="the app's background jobs to finish")
        tasks.shutdown()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app(config: dict[str, str]) -> Iterator[Any]:
    application = build_app(config)
    yield application
    dispose_app(application)


@pytest.fixture
def make_app(config: dict[str, str]) -> Iterator[Any]:
    """Build extra apps on the test's database with other settings; each is disposed of after."""
    apps: list[Any] = []

    def build(**settings: str) -> Any:
        apps.append(build_app({**config, **settings}))
        return apps[-1]

    yield build
    for application in apps:
        dispose_app(application)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def rq_config(config: dict[str, str], redis_url: str) -> dict[str, str]:
    return {**config, "REDIS_URL": redis_url}


@pytest.fixture
def rq_app(rq_config: dict[str, str]) -> Iterator[Any]:
    application = build_app(rq_config)
    yield application
    dispose_app(application)


class WorkerProcesses:
    """Real `python worker.py` processes sharing the test's Redis and database."""

    def __init__(self, env: dict[str, str], logdir: Path) -> None:
        self.env = env
        self.logdir = logdir
        self.processes: list[subprocess.Popen[bytes]] = []
        self.files: list[Any] = []

    def start(
        self, *extra: str, new_session: bool = False, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a worker named `…-<index>`; `new_session` puts it and its work-horses in their own group.

        `env` overrides variables for this worker only (e.g. its own CACHE_DIR: another machine).
        """
        index = len(self.processes)
        log = open(self.logdir / f"worker-{index}.log", "wb")  # noqa: SIM115 - closed with the process
        name = f"test-worker-{time.time_ns()}-{index}"
        timings = ["--maintenance-interval", "2", "--job-monitoring-interval", "1", "--worker-ttl", "20"]
        args = [sys.executable, "worker.py", "--name", name, *timings, *extra]
        process = subprocess.Popen(args, cwd=ROOT, env=self.env | (env or {}), stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=new_session)  # fmt: skip
        self.processes.append(process)
        self.files.append(log)
        return process

    def log_of(self, process: subprocess.Popen[bytes]) -> str:
        """Return what one worker wrote so far."""
        index = self.processes.index(process)
        return (self.logdir / f"worker-{index}.log").read_text(errors="replace")

    def stop_one(self, process: subprocess.Popen[bytes]) -> None:
        """Stop one worker (SIGTERM: a warm shutdown) and wait for it."""
        process.terminate()
        process.wait(timeout=30)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logdir.glob("worker-*.log")))

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for file in self.files:
            file.close()


@pytest.fixture
def rq_workers(rq_config: dict[str, str], tmp_path: Path) -> Iterator[WorkerProcesses]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "GITHUB_ACCESS_TOKEN"}}
    env.update(rq_config)
    logdir = tmp_path / "worker-logs"
    logdir.mkdir()
    workers = WorkerProcesses(env, logdir)
    yield workers
    workers.stop()


def wait_for(predicate: Any, timeout: float = 300.0, interval: float = 0.05, message: str = "condition") -> Any:
    """Poll `predicate` until it returns a truthy value; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")
