"""Start throw-away PostgreSQL and Redis servers on free loopback ports for the test run."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    """Block until something accepts connections on the port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if sock.connect_ex((LOOPBACK, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {LOOPBACK}:{port} after {timeout} s")


def _pg_bindir() -> Path:
    configured = os.environ.get("PG_BINDIR")
    if configured:
        return Path(configured)
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    raise RuntimeError("PostgreSQL server binaries not found (install postgresql or set PG_BINDIR)")


def _as_user_prefix() -> tuple[list[str], str | None]:
    """PostgreSQL refuses to run as root: run it as the `postgres` user then."""
    if os.geteuid() != 0:
        return [], None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root needs a 'postgres' system user (apt-get install postgresql)") from None
    return ["runuser", "-u", "postgres", "--"], "postgres"


@dataclass
class PostgresServer:
    """A private PostgreSQL cluster in a temp dir, listening only on 127.0.0.1."""

    port: int
    datadir: Path
    prefix: list[str]
    bindir: Path
    process: subprocess.Popen[bytes]
    log: BinaryIO
    command: list[str] = field(default_factory=list)

    @classmethod
    def start(cls) -> PostgresServer:
        bindir = _pg_bindir()
        prefix, user = _as_user_prefix()
        root = Path(tempfile.mkdtemp(prefix="pt-pg-"))
        datadir, sockdir = root / "data", root / "sock"
        sockdir.mkdir()
        if user:
            shutil.chown(root, user)
            shutil.chown(sockdir, user)
        subprocess.run(
            [*prefix, str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "-A", "trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        port = free_port()
        options = [
            "-p", str(port), "-k", str(sockdir), "-c", f"listen_addresses={LOOPBACK}",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=200", "-c", "shared_buffers=128MB",
        ]  # fmt: skip
        log = open(root / "postgres.log", "wb")  # noqa: SIM115 - lives as long as the server
        command = [*prefix, str(bindir / "postgres"), "-D", str(datadir), *options]
        process = subprocess.Popen(command, stdout=log, stderr=log)
        server = cls(port=port, datadir=datadir, prefix=prefix, bindir=bindir, process=process, log=log)
        server.command = command
        server._wait_ready()
        return server

    def halt(self) -> None:
        """Stop the server as an outage would (fast shutdown: every connection is cut), keeping its data."""
        stop = [*self.prefix, str(self.bindir / "pg_ctl"), "stop", "-D", str(self.datadir), "-m", "fast", "-w"]
        subprocess.run(stop, check=True, capture_output=True, timeout=120)
        self.process.wait(timeout=60)

    def resume(self) -> None:
        """Start the halted server again on the same port and data."""
        self.process = subprocess.Popen(self.command, stdout=self.log, stderr=self.log)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited early, see {self.datadir.parent / 'postgres.log'}")
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", LOOPBACK, "-p", str(self.port), "-U", "postgres"],
                capture_output=True,
                timeout=10,
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError("postgres did not become ready")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@{LOOPBACK}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create (or re-create) a database and return its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(
            f"host={LOOPBACK} port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        terminate(self.process, self.log, self.datadir.parent)


@dataclass
class RedisServer:
    """A private Redis with no persistence, listening only on 127.0.0.1."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes]
    log: BinaryIO

    @classmethod
    def start(cls) -> RedisServer:
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("redis-server not found (apt-get install redis-server)")
        workdir = Path(tempfile.mkdtemp(prefix="pt-redis-"))
        port = free_port()
        args = [
            binary, "--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no",
            "--dir", str(workdir), "--protected-mode", "yes", "--databases", "64",
        ]  # fmt: skip
        log = open(workdir / "redis.log", "wb")  # noqa: SIM115 - lives as long as the server
        process = subprocess.Popen(args, stdout=log, stderr=log)
        wait_for_port(port)
        return cls(port=port, workdir=workdir, process=process, log=log)

    def url(self, db: int = 0) -> str:
        return f"redis://{LOOPBACK}:{self.port}/{db}"

    def stop(self) -> None:
        terminate(self.process, self.log, self.workdir)


def terminate(process: subprocess.Popen[bytes], log: BinaryIO, workdir: Path) -> None:
    """Stop a server (killing it after 20 s), close its log and remove its files."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    log.close()
    shutil.rmtree(workdir, ignore_errors=True)
