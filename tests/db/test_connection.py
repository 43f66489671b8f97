"""The per-process connection pool behind `connect()`, on a real PostgreSQL server."""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import pq
from psycopg_pool import PoolTimeout

from tests.fixtures.database import SERVER_URL
from vsl_pipelines.db.connection import (
    close_all_pools,
    close_pool,
    connect,
    get_pool,
    transaction,
)


@pytest.fixture
def app_name() -> str:
    return f"vsl_pool_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def pooled_url(database_url: str, app_name: str) -> Iterator[str]:
    """The test database under its own application_name: its own pool, countable server-side."""
    url = f"{database_url}?application_name={app_name}"
    yield url
    close_pool(url)


def server_connections(app_name: str) -> list[int]:
    """Backend pids of the pool's connections, as the server sees them."""
    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (app_name,)
        ).fetchall()
    return [r[0] for r in rows]


def backend_pid(url: str) -> int:
    with connect(url) as conn:
        row = conn.execute("SELECT pg_backend_pid() AS pid").fetchone()
    assert row is not None
    return int(row["pid"])


def terminate(pid: int) -> None:
    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(100):  # the backend is gone once the server stops listing it
            if not admin.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)
            ).fetchone():
                return
            time.sleep(0.05)
    raise AssertionError(f"backend {pid} still running")


def test_many_sequential_uses_open_at_most_the_pool_size(pooled_url: str, app_name: str) -> None:
    get_pool(pooled_url, min_size=1, max_size=3)
    pids = set()
    for _ in range(60):
        with connect(pooled_url) as conn:
            row = conn.execute("SELECT pg_backend_pid() AS pid, 1 AS one").fetchone()
            assert row is not None and row["one"] == 1
            pids.add(row["pid"])
            assert 1 <= len(server_connections(app_name)) <= 3
    assert len(pids) <= 3
    assert 1 <= len(server_connections(app_name)) <= 3


def test_rows_are_dicts_and_the_block_commits(pooled_url: str) -> None:
    with connect(pooled_url) as conn:
        conn.execute("CREATE TABLE pool_probe (n int)")
        conn.execute("INSERT INTO pool_probe VALUES (1)")
    with psycopg.connect(pooled_url) as other:  # another session sees the committed rows
        assert other.execute("SELECT n FROM pool_probe").fetchall() == [(1,)]
    with transaction(pooled_url) as conn:
        conn.execute("INSERT INTO pool_probe VALUES (2)")
    with connect(pooled_url) as conn:
        assert conn.execute("SELECT n FROM pool_probe ORDER BY n").fetchall() == [
            {"n": 1},
            {"n": 2},
        ]


@pytest.mark.parametrize("failure", ["python", "sql"])
def test_an_error_rolls_back_and_the_connection_returns_usable(
    pooled_url: str, failure: str
) -> None:
    get_pool(pooled_url, min_size=1, max_size=1)  # one connection: the next use gets it back
    with connect(pooled_url) as conn:
        conn.execute("CREATE TABLE pool_probe (n int)")
    failed = pytest.raises((RuntimeError, psycopg.errors.DivisionByZero))
    with failed, connect(pooled_url) as conn:
        conn.execute("INSERT INTO pool_probe VALUES (1)")
        failed_pid = conn.info.backend_pid
        if failure == "python":
            raise RuntimeError("boom")
        conn.execute("SELECT 1 / 0")
    with connect(pooled_url) as conn:
        assert conn.info.backend_pid == failed_pid  # the same connection, back in the pool
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        assert conn.execute("SELECT count(*) AS n FROM pool_probe").fetchone() == {"n": 0}


def test_explicit_commit_and_autocommit_keep_their_meaning(pooled_url: str) -> None:
    get_pool(pooled_url, min_size=1, max_size=1)
    with connect(pooled_url) as conn:
        conn.execute("CREATE TABLE pool_probe (n int)")
    with pytest.raises(RuntimeError), connect(pooled_url) as conn:
        conn.execute("INSERT INTO pool_probe VALUES (1)")
        conn.commit()  # kept even though the block fails afterwards
        conn.execute("INSERT INTO pool_probe VALUES (2)")
        raise RuntimeError("after the commit")
    with connect(pooled_url, autocommit=True) as conn:
        assert conn.autocommit
        conn.execute("INSERT INTO pool_probe VALUES (3)")
        conn.execute("VACUUM pool_probe")  # only outside a transaction block
    with connect(pooled_url) as conn:
        assert not conn.autocommit  # lent out again as the pool had it
        rows = conn.execute("SELECT n FROM pool_probe ORDER BY n").fetchall()
    assert [r["n"] for r in rows] == [1, 3]


def test_a_connection_killed_server_side_is_not_handed_out_again(
    pooled_url: str, app_name: str
) -> None:
    get_pool(pooled_url, min_size=1, max_size=1)
    killed = backend_pid(pooled_url)
    terminate(killed)  # e.g. a server restart, while the connection sits idle in the pool
    with connect(pooled_url) as conn:
        assert conn.execute("SELECT 1 AS one").fetchone() == {"one": 1}
        replacement = conn.info.backend_pid
    assert replacement != killed
    assert server_connections(app_name) == [replacement]


def test_two_threads_use_the_pool_at_once(pooled_url: str, app_name: str) -> None:
    get_pool(pooled_url, min_size=1, max_size=2)
    both_hold = threading.Barrier(3)
    release = threading.Event()
    pids: list[int] = []
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            with connect(pooled_url) as conn:
                pids.append(conn.info.backend_pid)
                conn.execute("SELECT pg_sleep(0.05)")
                both_hold.wait(timeout=30)
                release.wait(timeout=30)
                conn.execute("SELECT 1")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    both_hold.wait(timeout=30)
    try:
        assert len(set(pids)) == 2  # two connections in use at the same time
        assert sorted(server_connections(app_name)) == sorted(pids)
        # The pool is exhausted: a third user waits, then gets an error naming the pool.
        named = re.escape(f"pool {get_pool(pooled_url).name!r}: no connection within 0.3 s")
        with pytest.raises(PoolTimeout, match=named), connect(pooled_url, timeout=0.3):
            pass
    finally:
        release.set()
        for t in threads:
            t.join(timeout=30)
    assert not errors
    assert backend_pid(pooled_url) in pids  # both went back to the pool


def test_threads_hammering_a_small_pool_all_get_served(pooled_url: str, app_name: str) -> None:
    get_pool(pooled_url, min_size=1, max_size=2)
    errors: list[BaseException] = []
    counts: list[int] = []

    def work() -> None:
        try:
            for _ in range(25):
                with connect(pooled_url) as conn:
                    row = conn.execute("SELECT count(*) AS n FROM pg_stat_activity").fetchone()
                    assert row is not None
                    counts.append(row["n"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(counts) == 150
    assert len(server_connections(app_name)) <= 2


def test_a_forked_child_uses_its_own_connections(pooled_url: str) -> None:
    get_pool(pooled_url, min_size=1, max_size=1)
    parent_pid = backend_pid(pooled_url)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report its backend pid, close its pools, leave at once
        code = 1
        try:
            os.close(read_end)
            os.write(write_end, str(backend_pid(pooled_url)).encode())
            close_all_pools()
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        reported = pipe.read()
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert reported and int(reported) != parent_pid
    # The child neither used nor closed the parent's connection: it still works.
    assert backend_pid(pooled_url) == parent_pid


def test_an_unreachable_server_fails_at_once_and_leaves_no_pool() -> None:
    url = "postgresql://postgres@127.0.0.1:1/nope?connect_timeout=2"
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError), connect(url):
        pass
    assert time.monotonic() - started < 10
    with pytest.raises(psycopg.OperationalError):  # tried again, not a cached failure
        get_pool(url)


def test_a_closed_pool_is_replaced_on_next_use(pooled_url: str) -> None:
    first = get_pool(pooled_url)
    close_pool(pooled_url)
    assert first.closed
    assert get_pool(pooled_url) is not first
    assert backend_pid(pooled_url) > 0


def test_sizes_given_later_resize_the_pool(pooled_url: str) -> None:
    pool = get_pool(pooled_url)
    assert (pool.min_size, pool.max_size, pool.timeout) == (1, 10, 30.0)
    assert get_pool(pooled_url, max_size=4, timeout=5.0) is pool
    assert (pool.min_size, pool.max_size, pool.timeout) == (1, 4, 5.0)
    get_pool(pooled_url)  # sizes left out keep the current ones
    assert pool.max_size == 4


def test_a_pooled_connection_survives_a_migration_by_another_process(pooled_url: str) -> None:
    get_pool(pooled_url, max_size=1)  # every use below is the same server connection
    for _ in range(8):  # past psycopg's threshold for preparing a repeated statement
        with connect(pooled_url) as conn:
            conn.execute("SELECT * FROM scripts").fetchall()
    with psycopg.connect(pooled_url.split("?")[0], autocommit=True) as other:
        other.execute("ALTER TABLE scripts ADD COLUMN added_later text")
    with connect(pooled_url) as conn:
        rows = conn.execute("SELECT * FROM scripts").fetchall()
        columns = [c.name for c in conn.execute("SELECT * FROM scripts LIMIT 0").description or []]
    assert rows == [] and "added_later" in columns
