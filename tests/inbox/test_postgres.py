from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from vsl_pipelines.db.connection import connect
from vsl_pipelines.inbox.base import WebhookInbox
from vsl_pipelines.inbox.postgres import PostgresInbox


def body(prediction_id: str, status: str = "succeeded") -> str:
    return json.dumps({"id": prediction_id, "status": status, "output": None})


def rows(database_url: str) -> list[dict]:
    with connect(database_url) as conn:
        return conn.execute("SELECT * FROM webhook_inbox ORDER BY seq").fetchall()


def test_implements_the_protocol(inbox: PostgresInbox) -> None:
    assert isinstance(inbox, WebhookInbox)


def test_put_stores_raw_body_and_parsed_columns(inbox: PostgresInbox, database_url: str) -> None:
    raw = b'{"id": "p1",  "status": "processing", "logs": "\\u00e9t\xc3\xa9"}'
    received = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert inbox.put("msg_1", raw, received_at=received) is True
    [row] = rows(database_url)
    assert row["body"] == raw.decode()
    assert (row["webhook_id"], row["prediction_id"], row["status"]) == ("msg_1", "p1", "processing")
    assert row["received_at"] == received


def test_put_keeps_unparsable_bodies_without_columns(
    inbox: PostgresInbox, database_url: str
) -> None:
    assert inbox.put("msg_x", "plain text") is True
    [row] = rows(database_url)
    assert (row["prediction_id"], row["status"], row["body"]) == (None, None, "plain text")


def test_redelivery_is_stored_once(inbox: PostgresInbox, database_url: str) -> None:
    assert inbox.put("msg_1", body("p1")) is True
    assert inbox.put("msg_1", body("p1")) is False
    assert len(rows(database_url)) == 1


def test_concurrent_duplicate_puts_store_one(database_url: str) -> None:
    """The same webhook delivered by eight writers at once (the DynamoDB inbox has the same
    test): one stores it, the others are told it is a redelivery."""
    inbox = PostgresInbox(database_url)
    threads, start = 8, threading.Barrier(8)
    results: list[bool] = []

    def deliver() -> None:
        start.wait()
        results.append(inbox.put("msg_dup", body("p1")))

    workers = [threading.Thread(target=deliver) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    inbox.close()
    assert sorted(results) == [False] * (threads - 1) + [True]
    assert [r["webhook_id"] for r in rows(database_url)] == ["msg_dup"]


def test_read_after_cursor_and_limit(inbox: PostgresInbox) -> None:
    assert inbox.latest_cursor() == 0
    assert inbox.read_after(0, 10) == []
    for i in range(5):
        inbox.put(f"msg_{i}", body(f"p{i}"))
    first = inbox.read_after(0, 2)
    assert [e.webhook_id for e in first] == ["msg_0", "msg_1"]
    rest = inbox.read_after(first[-1].seq, 10)
    assert [e.webhook_id for e in rest] == ["msg_2", "msg_3", "msg_4"]
    assert [e.seq for e in first + rest] == sorted(e.seq for e in first + rest)
    assert inbox.latest_cursor() == rest[-1].seq
    assert inbox.read_after(inbox.latest_cursor(), 10) == []
    assert rest[0].prediction().id == "p2"
    assert rest[0].received_at.tzinfo is not None


def test_received_at_defaults_to_now(inbox: PostgresInbox) -> None:
    inbox.put("msg_1", body("p1"))
    [event] = inbox.read_after(0, 1)
    assert abs(event.received_at - datetime.now(UTC)) < timedelta(minutes=1)


def test_concurrent_writers_never_leave_a_gap_behind_the_cursor(database_url: str) -> None:
    writers, per_writer = 8, 50
    expected = {f"w{w}-{i}" for w in range(writers) for i in range(per_writer)}
    start = threading.Barrier(writers + 1)
    done = threading.Event()
    errors: list[BaseException] = []

    def write(w: int) -> None:
        own = PostgresInbox(database_url)  # one inbox per writer; all share the pool
        try:
            start.wait()
            for i in range(per_writer):
                own.put(f"w{w}-{i}", body(f"p{w}-{i}"))
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    reader = PostgresInbox(database_url)
    seen: list[str] = []
    seqs: list[int] = []
    cursor = 0
    start.wait()
    watcher = threading.Thread(target=lambda: ([t.join() for t in threads], done.set()))
    watcher.start()
    while True:
        finished = done.is_set()  # read once more after the writers are done
        batch = reader.read_after(cursor, 37)
        if batch:
            cursor = batch[-1].seq
            seen += [e.webhook_id for e in batch]
            seqs += [e.seq for e in batch]
        elif finished:
            break
    watcher.join()
    reader.close()
    assert not errors
    assert len(seen) == len(expected)
    assert set(seen) == expected
    assert seqs == sorted(seqs)


@pytest.mark.parametrize("method", ["ping", "latest_cursor"])
def test_unreachable_database_raises(method: str) -> None:
    dead = PostgresInbox("postgresql://postgres@127.0.0.1:1/nope?connect_timeout=2")
    with pytest.raises(Exception):  # noqa: B017 - any psycopg error will do
        getattr(dead, method)()


def test_reconnects_after_its_idle_connection_is_killed(
    inbox: PostgresInbox, database_url: str
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
    with connect(database_url) as conn:
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
