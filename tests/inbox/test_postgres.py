"""What the Postgres inbox alone does: a reconnect, rows numbered by their reader; its contract
with the DynamoDB inbox is in `test_base.py`."""

from __future__ import annotations

import threading

import psycopg

from tests.inbox.conftest import body
from vsl_pipelines.db.database import Database
from vsl_pipelines.inbox.postgres import PostgresInbox


def test_reconnects_after_its_idle_connection_is_killed(
    inbox: PostgresInbox, db: Database, database_url: str
) -> None:
    inbox.put("msg_1", body("p1"))
    # Not through the pool: the pooled connection that just served the inbox is the victim.
    with psycopg.connect(database_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        assert killed
        for (pid,) in killed:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert inbox.put("msg_2", body("p2")) is True
    assert inbox.latest_cursor() > 0
    with db.connect() as conn:  # the inbox's pool
        assert conn.info.backend_pid not in {pid for (pid,) in killed}


def test_a_row_committed_late_is_read_after_the_cursor_and_writers_never_wait(
    inbox: PostgresInbox, database_url: str
) -> None:
    """A writer whose transaction is still open when a later writer commits (the case that made
    a sequence taken at insert skip rows) neither blocks the later writer nor gets skipped."""
    with psycopg.connect(database_url) as slow:  # a transaction left open
        slow.execute(
            "INSERT INTO webhook_inbox (webhook_id, body) VALUES ('msg_slow', %s)", (body("p0"),)
        )
        finished = threading.Event()
        fast = threading.Thread(target=lambda: (inbox.put("msg_fast", body("p1")), finished.set()))
        fast.start()
        assert finished.wait(5), "a writer waited for another writer's transaction"
        fast.join()
        first = inbox.read_after(0, 10)
        assert [e.webhook_id for e in first] == ["msg_fast"]
        cursor = first[-1].seq
        slow.commit()
    late = inbox.read_after(cursor, 10)
    assert [e.webhook_id for e in late] == ["msg_slow"] and late[0].seq > cursor
    assert inbox.read_after(late[0].seq, 10) == []
