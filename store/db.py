"""Engine construction and the small helpers every query module shares."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg.rows import dict_row, namedtuple_row
from sqlalchemy import Connection, Engine, PoolProxiedConnection, TextClause, create_engine
from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg
from sqlalchemy.exc import DBAPIError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def sqlalchemy_url(database_url: str) -> str:
    """DATABASE_URL as users write it (postgresql://) → the psycopg 3 dialect."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    return database_url


def make_engine(database_url: str, *, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    return create_engine(
        sqlalchemy_url(database_url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"connect_timeout": 5},
    )


def make_statement_engine(
    database_url: str, *, pool_size: int = 5, asynchronous_commit: bool = False
) -> Engine:
    """An engine for hot paths that are one statement each: autocommit (no BEGIN/COMMIT round
    trips; the statement is its own transaction), no pre-ping round trip on checkout (the
    caller retries once on a dead connection), psycopg's prepared statements, and optionally
    `synchronous_commit = off` for the connection's whole session."""
    options = "-c synchronous_commit=off" if asynchronous_commit else ""
    return create_engine(
        sqlalchemy_url(database_url),
        pool_size=pool_size,
        max_overflow=0,  # as many as the threads that use it: a burst waits, it opens nothing
        pool_pre_ping=False,
        pool_recycle=1800,
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 5, "prepare_threshold": 1, "options": options},
    )


def fetch_prepared(
    engine: Engine, sql: str, params: Mapping[str, Any], *, durable: bool = False
) -> Any | None:
    """One statement on a statement engine's pooled connection, straight through psycopg:
    prepared on the server once per connection, no SQLAlchemy compile or result machinery,
    the row as a named tuple. For the hottest reads and one-statement writes.

    `durable`: for a write that must be durable on an engine whose sessions commit
    asynchronously — the statement in a transaction of its own with `SET LOCAL
    synchronous_commit = on`, so its commit waits for the WAL flush (a pipeline would save
    the BEGIN and COMMIT round trips on paper; on loopback its bookkeeping costs more).

    Not retried: a write whose connection died may have committed. A dead connection makes
    the whole pool start afresh (as SQLAlchemy does on a disconnect), so the next call works.
    """
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert isinstance(driver, psycopg.Connection)
        with contextlib.ExitStack() as stack:
            if durable:
                stack.enter_context(driver.transaction())
            cur = stack.enter_context(driver.cursor(row_factory=namedtuple_row))
            if durable:
                cur.execute(_DURABLE, prepare=True)
            cur.execute(sql, params, prepare=True)
            return cur.fetchone()
    except psycopg.OperationalError:
        raw.invalidate()
        engine.dispose(close=False)
        raise
    finally:
        raw.close()


def fetch_durable(engine: Engine, sql: str, params: Mapping[str, Any]) -> Any | None:
    """`fetch_prepared(..., durable=True)`."""
    return fetch_prepared(engine, sql, params, durable=True)


_DURABLE = "SET LOCAL synchronous_commit = on"


# The dialect every engine here uses: psycopg's parameter style, for `driver_sql`.
_DIALECT = pg_psycopg.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it untyped


def driver_sql(statement: TextClause) -> str:
    """`statement` as SQLAlchemy sends it to psycopg (`%(name)s` for `:name`, a literal `%`
    doubled): the SQL for `execute_prepared`, compiled once by its owner."""
    return str(statement.compile(dialect=_DIALECT))


# Where `execute_prepared` runs: a SQLAlchemy connection, or an engine's pooled DB-API
# connection with no SQLAlchemy Connection around it (`Runtime.once_direct`).
Executor = Connection | PoolProxiedConnection


def execute_prepared(
    conn: Executor,
    sql: str,
    params: Mapping[str, Any],
    *,
    as_dict: bool = False,
) -> Any | None:
    """One statement on `conn`'s own psycopg connection (in its transaction, if it has one
    open), prepared on the server once per connection; its first row (a named tuple, or a
    dict with `as_dict`), or None. None of SQLAlchemy's compile, parameter or result
    machinery: on a worker's claim and completion that cost as much CPU as the round trip.

    It fails as SQLAlchemy's `execute` would: psycopg's error wrapped in SQLAlchemy's class
    for it (`.orig` holds it), and a connection found dead invalidated and said so
    (`connection_invalidated`), so `Runtime.once` may run the statement again on a fresh
    connection. A SQLAlchemy connection's pool is renewed here (its siblings are as dead);
    a bare pooled connection's, by whoever checked it out."""
    pooled = conn.connection if isinstance(conn, Connection) else conn
    driver = pooled.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.cursor(row_factory=dict_row if as_dict else namedtuple_row) as cur:
            cur.execute(sql, params, prepare=True)
            return cur.fetchone()
    except psycopg.Error as exc:
        dead = driver.closed or driver.broken  # a disconnect, as SQLAlchemy's dialect tells one
        if dead and isinstance(conn, Connection):
            conn.invalidate(exc)
            conn.engine.dispose(close=False)
        elif dead:
            pooled.invalidate(exc)
        raise DBAPIError.instance(
            sql, dict(params), exc, psycopg.Error, connection_invalidated=dead
        ) from exc


def alembic_config(database_url: str) -> Config:

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:

    command.upgrade(alembic_config(database_url), revision)


def current_revision(engine: Engine) -> str | None:

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(database_url: str) -> str | None:

    return ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
