"""Connections to PostgreSQL: one `psycopg_pool.ConnectionPool` per process and database URL.

`connect(url)` lends a pooled connection (rows as dicts) for one `with` block: the block's
work commits when it succeeds, rolls back when it raises, and the connection goes back to the
pool either way. Pools are created on first use, checked before every loan (a connection
dropped by a server restart is replaced, never handed out), closed at interpreter exit, and
never shared with a forked child: the child makes its own.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeAlias, TypeVar, cast

import psycopg
from psycopg.abc import Params, QueryNoTemplate
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import class_row, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

Conn: TypeAlias = psycopg.Connection[dict[str, Any]]
JsonObject: TypeAlias = dict[str, Any]  # a jsonb column's object, or one written to it
R = TypeVar("R")
Pool: TypeAlias = ConnectionPool[Conn]

DEFAULT_MIN_SIZE = 1
DEFAULT_MAX_SIZE = 10
DEFAULT_TIMEOUT_S = 30.0  # longest wait for a free connection before `PoolTimeout`

# (pid, url) -> pool. The pid keeps a forked child off its parent's pools (their sockets
# belong to the parent); the parent's entries stay here untouched so that nothing in the
# child ever closes them.
_pools: dict[tuple[int, str], Pool] = {}
_lock = threading.Lock()


def _reset_lock_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at the time of the fork


os.register_at_fork(after_in_child=_reset_lock_in_child)


def pool_name(database_url: str) -> str:
    """A name for the URL's pool that shows where it connects, never the password."""
    try:
        params = conninfo_to_dict(database_url)
    except psycopg.ProgrammingError:
        return "vsl-db"
    where = f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"
    return f"vsl-db {params.get('user') or ''}@{where}/{params.get('dbname') or ''}"


def get_pool(
    database_url: str,
    *,
    min_size: int | None = None,
    max_size: int | None = None,
    timeout: float | None = None,
) -> Pool:
    """This process's pool for `database_url`, opened on first use.

    Sizes left out keep the pool's current ones (the defaults `DEFAULT_MIN_SIZE`,
    `DEFAULT_MAX_SIZE`, `DEFAULT_TIMEOUT_S` for a new pool); sizes given resize an existing one.
    A new pool is only made once a direct connection succeeds, so an unreachable server fails
    at once with its own error instead of after the pool's wait.
    """
    key = (os.getpid(), database_url)
    pool = _pools.get(key)
    if pool is None:
        psycopg.connect(database_url).close()  # outside the lock: may take a while
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = _open_pool(
                    database_url,
                    min_size=DEFAULT_MIN_SIZE if min_size is None else min_size,
                    max_size=DEFAULT_MAX_SIZE if max_size is None else max_size,
                    timeout=DEFAULT_TIMEOUT_S if timeout is None else timeout,
                )
                return pool
    if (min_size is not None and min_size != pool.min_size) or (
        max_size is not None and max_size != pool.max_size
    ):
        pool.resize(
            pool.min_size if min_size is None else min_size,
            pool.max_size if max_size is None else max_size,
        )
    if timeout is not None:
        pool.timeout = timeout
    return pool


def _open_pool(database_url: str, *, min_size: int, max_size: int, timeout: float) -> Pool:
    pool: Pool = ConnectionPool(
        database_url,
        connection_class=cast("type[Conn]", psycopg.Connection),
        # No server-side prepared statements: a pooled connection lives long enough to see a
        # migration from another process, after which a prepared `SELECT *` fails with
        # "cached plan must not change result type".
        kwargs={"row_factory": dict_row, "prepare_threshold": None},
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        name=pool_name(database_url),
        # One round trip before each loan: a connection the server dropped is thrown away
        # and replaced instead of failing the caller's first statement.
        check=ConnectionPool.check_connection,
        open=False,
    )
    pool.open()  # connects in the background
    return pool


def close_pool(database_url: str) -> None:
    """Close this process's pool for the URL, if any (e.g. before dropping the database).

    Connections on loan are closed when they come back; the next `connect` opens a new pool.
    """
    with _lock:
        pool = _pools.pop((os.getpid(), database_url), None)
    if pool is not None:
        pool.close()


def close_all_pools() -> None:
    """Close every pool this process opened (registered to run at interpreter exit)."""
    pid = os.getpid()
    with _lock:
        mine = [key for key in _pools if key[0] == pid]
        pools = [_pools.pop(key) for key in mine]
    for pool in pools:
        pool.close()


atexit.register(close_all_pools)


@contextmanager
def connect(
    database_url: str, *, autocommit: bool = False, timeout: float | None = None
) -> Iterator[Conn]:
    """A pooled connection returning rows as dicts, for the length of a `with` block.

    Without autocommit the block is one transaction: committed when the block succeeds,
    rolled back when it raises (explicit `conn.commit()` and `conn.transaction()` work as on
    any psycopg connection). The connection returns to the pool at the end. Waiting longer
    than `timeout` (default: the pool's) for a free connection raises `PoolTimeout`.
    """
    pool = get_pool(database_url)
    try:
        conn = pool.getconn(timeout)
    except PoolTimeout as exc:
        waited = pool.timeout if timeout is None else timeout
        raise PoolTimeout(
            f"pool {pool.name!r}: no connection within {waited:g} s"
            f" ({pool.max_size} at most, all in use or the server unreachable)"
        ) from exc
    try:
        if autocommit:
            conn.autocommit = True
        with conn:  # commit or roll back; a pooled connection is not closed here
            yield conn
    finally:
        _restore(conn)
        pool.putconn(conn)


def _restore(conn: Conn) -> None:
    """Give the connection back as the pool lent it: not in autocommit."""
    if conn.closed or not conn.autocommit:
        return
    try:
        conn.autocommit = False
    except psycopg.Error:
        with suppress(psycopg.Error):
            conn.close()  # the pool replaces a closed connection


def returned(row: R | None) -> R:
    """The row an INSERT/UPDATE ... RETURNING must give back."""
    if row is None:
        raise LookupError("the statement returned no row")
    return row


def fetch_one(
    conn: Conn, row: type[R], query: QueryNoTemplate, params: Params | None = None
) -> R | None:
    """The statement's first row as a `row` (a dataclass of the columns), or None."""
    return conn.cursor(row_factory=class_row(row)).execute(query, params).fetchone()


def fetch_all(
    conn: Conn, row: type[R], query: QueryNoTemplate, params: Params | None = None
) -> list[R]:
    """The statement's rows, each as a `row` (a dataclass of the columns)."""
    return conn.cursor(row_factory=class_row(row)).execute(query, params).fetchall()


@contextmanager
def transaction(database_url: str) -> Iterator[Conn]:
    """A connection whose work commits on success and rolls back on error."""
    with connect(database_url) as conn, conn.transaction():
        yield conn
