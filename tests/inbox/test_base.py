"""The `WebhookInbox` contract, run on each back end: the Postgres table and the DynamoDB table
(on the moto server). What one back end alone does is in `test_postgres.py`, `test_dynamodb.py`."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from tests.inbox.conftest import InboxBackend, body
from vsl_pipelines.inbox.base import WebhookInbox


@pytest.fixture(params=["postgres", "dynamodb"])
def backend(request: pytest.FixtureRequest) -> InboxBackend:
    return request.getfixturevalue(f"{request.param}_backend")


def test_implements_the_protocol(backend: InboxBackend) -> None:
    assert isinstance(backend.inbox, WebhookInbox)
    assert backend.inbox.backend == backend.name


def test_put_stores_raw_body_and_parsed_fields(backend: InboxBackend) -> None:
    raw = b'{"id": "p1",  "status": "processing", "logs": "\\u00e9t\xc3\xa9"}'
    received = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert backend.inbox.put("msg_1", raw, received_at=received) is True
    [stored] = backend.stored()
    assert stored.body == raw.decode()
    assert (stored.webhook_id, stored.prediction_id, stored.status) == ("msg_1", "p1", "processing")
    assert stored.received_at == received
    [event] = backend.inbox.read_after(0, 10)
    assert (event.body, event.received_at) == (raw.decode(), received)


def test_put_keeps_unparsable_bodies_without_parsed_fields(backend: InboxBackend) -> None:
    assert backend.inbox.put("msg_x", "plain text") is True
    [stored] = backend.stored()
    assert (stored.prediction_id, stored.status, stored.body) == (None, None, "plain text")


def test_redelivery_is_stored_once_and_takes_no_seq(backend: InboxBackend) -> None:
    inbox = backend.inbox
    assert inbox.put("msg_1", body("p1")) is True
    assert inbox.put("msg_1", body("p1")) is False
    assert len(backend.stored()) == 1
    assert inbox.put("msg_2", body("p2")) is True
    first, second = inbox.read_after(0, 10)
    assert (first.webhook_id, second.webhook_id) == ("msg_1", "msg_2")
    assert second.seq == first.seq + 1


def test_concurrent_duplicate_puts_store_one(backend: InboxBackend) -> None:
    """The same webhook delivered by eight writers at once: one stores it, the others are told
    it is a redelivery."""
    threads, start = 8, threading.Barrier(8)
    results: list[bool] = []

    def deliver() -> None:
        start.wait()
        results.append(backend.inbox.put("msg_dup", body("p1")))

    workers = [threading.Thread(target=deliver) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert sorted(results) == [False] * (threads - 1) + [True]
    assert [s.webhook_id for s in backend.stored()] == ["msg_dup"]


def test_read_after_cursor_and_limit(backend: InboxBackend) -> None:
    inbox = backend.inbox
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


def test_received_at_defaults_to_now(backend: InboxBackend) -> None:
    backend.inbox.put("msg_1", body("p1"))
    [event] = backend.inbox.read_after(0, 1)
    assert abs(event.received_at - datetime.now(UTC)) < timedelta(minutes=1)


def test_concurrent_writers_never_leave_a_gap_behind_the_cursor(backend: InboxBackend) -> None:
    """A reader at the high-water mark while writers put, each on its own inbox."""
    writers, per_writer = backend.writers
    expected = {f"w{w}-{i}" for w in range(writers) for i in range(per_writer)}
    start = threading.Barrier(writers + 1)
    done = threading.Event()
    errors: list[BaseException] = []

    def write(w: int) -> None:
        own = backend.open_inbox()
        try:
            start.wait()
            for i in range(per_writer):
                own.put(f"w{w}-{i}", body(f"p{w}-{i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    reader = backend.open_inbox()
    seen: list[str] = []
    seqs: list[int] = []
    cursor = 0
    start.wait()

    def wait_for_writers() -> None:
        for t in threads:
            t.join()
        done.set()

    watcher = threading.Thread(target=wait_for_writers)
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
    assert not errors
    assert len(seen) == len(expected)
    assert set(seen) == expected
    assert seqs == sorted(seqs)
    if backend.seqs_without_gaps:
        assert seqs == list(range(1, len(expected) + 1))


def test_a_reachable_inbox_answers_and_a_missing_one_raises(backend: InboxBackend) -> None:
    backend.inbox.ping()
    for method in (backend.missing.ping, backend.missing.latest_cursor):
        with pytest.raises(Exception):  # noqa: B017 - any driver error will do
            method()
