"""Hold the Flask extensions, created unbound and bound in `create_app`."""

from typing import Any

from flask_cors import CORS
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase

# Named constraints keep Alembic migrations identical on PostgreSQL and SQLite.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
cors = CORS()
# Per-client limits (the client address, through TRUSTED_PROXIES hops) on public costly routes;
# the routes say which limit and exempt the admin token. Storage: Redis with REDIS_URL, else memory.
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True, swallow_errors=True)


def conflict_insert(dialect_name: str, table: Table) -> Any:
    """Return the INSERT of `table` that knows ON CONFLICT (PostgreSQL's or SQLite's, the two supported)."""
    return (postgresql if dialect_name == "postgresql" else sqlite).insert(table)


def upsert_ignore(dialect_name: str, table: Table, index_elements: list[str]) -> Any:
    """Return an INSERT that skips rows whose key already exists."""
    return conflict_insert(dialect_name, table).on_conflict_do_nothing(index_elements=index_elements)


def sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    """Turn on what SQLite leaves off: foreign keys (ON DELETE CASCADE) and WAL (readers beside a writer)."""
    import sqlite3

    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


def install_sqlite_pragmas() -> None:
    """Register `sqlite_pragmas` for every new connection (idempotent)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", sqlite_pragmas):
        event.listen(Engine, "connect", sqlite_pragmas)
