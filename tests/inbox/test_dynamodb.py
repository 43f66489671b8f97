"""The DynamoDB inbox against a real moto server: the Postgres inbox's cases plus gaps, TTL, repair."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from vsl_pipelines.inbox import dynamodb
from vsl_pipelines.inbox.base import WebhookInbox
from vsl_pipelines.inbox.dynamodb import DynamoInbox, create_inbox_table

Table = tuple[Any, str]


def body(prediction_id: str, status: str = "succeeded") -> str:
    return json.dumps({"id": prediction_id, "status": status, "output": None})


@pytest.fixture
def inbox(dynamo_table: Table) -> DynamoInbox:
    client, name = dynamo_table
    return DynamoInbox(name, client=client)


def event_items(dynamo_table: Table) -> list[dict[str, Any]]:
    client, name = dynamo_table
    return client.query(
        TableName=name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "events"}},
        ConsistentRead=True,
    )["Items"]


def reserve_seq_without_event(dynamo_table: Table) -> int:
    """What a writer that crashed right after taking its seq leaves behind."""
    client, name = dynamo_table
    response = client.update_item(
        TableName=name,
        Key={"pk": {"S": "counter"}, "sk": {"N": "0"}},
        UpdateExpression="ADD seq :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
        ReturnValues="UPDATED_NEW",
    )
    return int(response["Attributes"]["seq"]["N"])


def follow(inbox: DynamoInbox, cursor: int, until: float, limit: int = 100) -> list[str]:
    """Read from `cursor` until the deadline, as the sensor does tick after tick."""
    seen: list[str] = []
    while time.monotonic() < until:
        batch = inbox.read_after(cursor, limit)
        if batch:
            cursor = batch[-1].seq
            seen += [e.webhook_id for e in batch]
        time.sleep(0.05)
    return seen


class CrashingClient:
    """Delegates to a boto3 client; the event put (pk "events") fails or stalls as told."""

    def __init__(self, client: Any, *, fail: int = 0, delay_s: float = 0) -> None:
        self._client = client
        self.fail, self.delay_s = fail, delay_s

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_item(self, **kwargs: Any) -> Any:
        if kwargs["Item"]["pk"] == {"S": "events"}:
            if self.fail:
                self.fail -= 1
                raise ConnectionError("process killed before the event was written")
            time.sleep(self.delay_s)
        return self._client.put_item(**kwargs)


# -- the Postgres inbox's behaviour ------------------------------------------------------


def test_implements_the_protocol(inbox: DynamoInbox) -> None:
    assert isinstance(inbox, WebhookInbox)
    assert inbox.backend == "dynamodb"


def test_put_stores_raw_body_and_parsed_attributes(inbox: DynamoInbox, dynamo_table: Table) -> None:
    raw = b'{"id": "p1",  "status": "processing", "logs": "\\u00e9t\xc3\xa9"}'
    received = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert inbox.put("msg_1", raw, received_at=received) is True
    [item] = event_items(dynamo_table)
    assert item["body"]["S"] == raw.decode()
    assert (item["webhook_id"]["S"], item["prediction_id"]["S"], item["status"]["S"]) == (
        "msg_1",
        "p1",
        "processing",
    )
    assert datetime.fromisoformat(item["received_at"]["S"]) == received
    expires = datetime.fromtimestamp(int(item["expires_at"]["N"]), UTC)
    assert abs(expires - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=1)
    [event] = inbox.read_after(0, 10)
    assert (event.body, event.received_at) == (raw.decode(), received)


def test_put_keeps_unparsable_bodies_without_attributes(
    inbox: DynamoInbox, dynamo_table: Table
) -> None:
    assert inbox.put("msg_x", "plain text") is True
    [item] = event_items(dynamo_table)
    assert "prediction_id" not in item and "status" not in item
    assert item["body"]["S"] == "plain text"


def test_redelivery_is_stored_once_and_takes_no_seq(
    inbox: DynamoInbox, dynamo_table: Table
) -> None:
    assert inbox.put("msg_1", body("p1")) is True
    assert inbox.put("msg_1", body("p1")) is False
    assert len(event_items(dynamo_table)) == 1
    assert inbox.put("msg_2", body("p2")) is True
    assert [int(i["sk"]["N"]) for i in event_items(dynamo_table)] == [1, 2]


def test_concurrent_duplicate_puts_store_one(dynamo_table: Table) -> None:
    client, name = dynamo_table
    inbox = DynamoInbox(name, client=client)
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
    assert sorted(results) == [False] * (threads - 1) + [True]
    assert [i["webhook_id"]["S"] for i in event_items(dynamo_table)] == ["msg_dup"]


def test_read_after_cursor_and_limit(inbox: DynamoInbox) -> None:
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


def test_read_after_pages_through_more_than_one_query_page(
    inbox: DynamoInbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dynamodb, "_PAGE", 4)  # items per Query page
    for i in range(11):
        inbox.put(f"msg_{i}", body(f"p{i}"))
    assert [e.seq for e in inbox.read_after(0, 500)] == list(range(1, 12))
    assert [e.seq for e in inbox.read_after(2, 5)] == list(range(3, 8))
    assert inbox.latest_cursor() == 11


def test_received_at_defaults_to_now(inbox: DynamoInbox) -> None:
    inbox.put("msg_1", body("p1"))
    [event] = inbox.read_after(0, 1)
    assert abs(event.received_at - datetime.now(UTC)) < timedelta(minutes=1)


def test_concurrent_writers_never_leave_a_gap_behind_the_cursor(dynamo_table: Table) -> None:
    client, name = dynamo_table
    writers, per_writer = 5, 16
    expected = {f"w{w}-{i}" for w in range(writers) for i in range(per_writer)}
    start = threading.Barrier(writers + 1)
    done = threading.Event()
    errors: list[BaseException] = []

    def write(w: int) -> None:
        own = DynamoInbox(name, client=client)
        try:
            start.wait()
            for i in range(per_writer):
                own.put(f"w{w}-{i}", body(f"p{w}-{i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    reader = DynamoInbox(name, client=client)
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
    assert seqs == list(range(1, len(expected) + 1))


def test_unreachable_or_missing_table_raises(dynamo_table: Table) -> None:
    client, name = dynamo_table
    DynamoInbox(name, client=client).ping()
    missing = DynamoInbox("vsl-no-such-table", client=client)
    with pytest.raises(RuntimeError, match="vsl-no-such-table"):
        missing.ping()
    with pytest.raises(Exception):  # noqa: B017 - any botocore error will do
        missing.latest_cursor()


# -- DynamoDB specifics ------------------------------------------------------------------


def test_create_inbox_table_is_idempotent_with_ttl_and_on_demand(dynamo_table: Table) -> None:
    client, name = dynamo_table
    create_inbox_table(client, name)
    table = client.describe_table(TableName=name)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {
        "pk": "HASH",
        "sk": "RANGE",
    }
    ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")


def test_a_gap_holds_the_reader_until_settle_s_passes(dynamo_table: Table) -> None:
    client, name = dynamo_table
    inbox = DynamoInbox(name, client=client, settle_s=1.0)
    inbox.put("msg_1", body("p1"))
    lost = reserve_seq_without_event(dynamo_table)
    inbox.put("msg_3", body("p3"))
    written = time.monotonic()
    assert [e.webhook_id for e in inbox.read_after(0, 10)] == ["msg_1"]
    assert inbox.read_after(1, 10) == []
    assert inbox.latest_cursor() == 1
    time.sleep(max(0.0, written + 1.1 - time.monotonic()))
    [event] = inbox.read_after(1, 10)
    assert (event.webhook_id, event.seq) == ("msg_3", lost + 1)
    assert inbox.latest_cursor() == lost + 1


def test_a_gap_filled_in_time_is_read_in_order(dynamo_table: Table) -> None:
    client, name = dynamo_table
    slow = CrashingClient(client, delay_s=0.6)
    writer = DynamoInbox(name, client=slow, settle_s=2.0)  # slow, but within settle_s / 2
    reader = DynamoInbox(name, client=client, settle_s=2.0)
    late = threading.Thread(target=lambda: writer.put("msg_late", body("p1")))
    late.start()
    time.sleep(0.2)  # msg_late holds seq 1 but has not written it yet
    reader.put("msg_2", body("p2"))
    seen = follow(reader, 0, until=time.monotonic() + 1.2)  # well within settle_s
    late.join()
    assert seen == ["msg_late", "msg_2"]


def test_expired_items_are_not_returned(inbox: DynamoInbox, dynamo_table: Table) -> None:
    client, name = dynamo_table
    for i in range(1, 5):
        inbox.put(f"msg_{i}", body(f"p{i}"))
    past = str(int(time.time()) - 60)
    for seq in (2, 4):
        client.update_item(
            TableName=name,
            Key={"pk": {"S": "events"}, "sk": {"N": str(seq)}},
            UpdateExpression="SET expires_at = :past",
            ExpressionAttributeValues={":past": {"N": past}},
        )
    assert len(event_items(dynamo_table)) == 4  # still stored: TTL deletion is lazy
    assert [e.webhook_id for e in inbox.read_after(0, 10)] == ["msg_1", "msg_3"]
    assert [e.webhook_id for e in inbox.read_after(0, 2)] == ["msg_1", "msg_3"]


def test_a_crash_between_dedupe_and_event_is_repaired_by_a_redelivery(
    dynamo_table: Table,
) -> None:
    client, name = dynamo_table
    crashing = DynamoInbox(name, client=CrashingClient(client, fail=1), settle_s=0.5)
    reserved = time.monotonic()  # settle_s counts from the reservation the crash left
    with pytest.raises(ConnectionError):
        crashing.put("msg_1", body("p1"))
    record = client.get_item(
        TableName=name, Key={"pk": {"S": "id#msg_1"}, "sk": {"N": "0"}}, ConsistentRead=True
    )["Item"]
    assert record["state"]["S"] == "reserved"
    assert event_items(dynamo_table) == []

    inbox = DynamoInbox(name, client=client, settle_s=0.5)
    assert inbox.put("msg_1", body("p1")) is True  # waits out settle_s, then repairs
    # Not before the reservation is settle_s old (timed from it: a loaded machine may take
    # most of settle_s between the crash and this delivery, which then waits the rest).
    assert time.monotonic() - reserved >= 0.45
    assert inbox.put("msg_1", body("p1")) is False
    seen = follow(inbox, 0, until=time.monotonic() + 1.0)
    assert seen == ["msg_1"]


def test_a_stalled_first_delivery_and_its_repair_store_it_at_least_once(
    dynamo_table: Table,
) -> None:
    client, name = dynamo_table
    original = DynamoInbox(name, client=CrashingClient(client, delay_s=1.0), settle_s=0.3)
    results: list[bool] = []
    first = threading.Thread(target=lambda: results.append(original.put("msg_1", body("p1"))))
    first.start()
    time.sleep(0.1)
    inbox = DynamoInbox(name, client=client, settle_s=0.3)
    assert inbox.put("msg_1", body("p1")) is True  # took over the stalled reservation
    first.join()
    assert results == [False]  # it lost ownership while its event put was stalled
    items = event_items(dynamo_table)
    assert [(int(i["sk"]["N"]), i["webhook_id"]["S"]) for i in items] == [
        (1, "msg_1"),
        (2, "msg_1"),
    ]
    record = client.get_item(
        TableName=name, Key={"pk": {"S": "id#msg_1"}, "sk": {"N": "0"}}, ConsistentRead=True
    )["Item"]
    assert (record["state"]["S"], record["seq"]["N"]) == ("stored", "2")


def test_a_writer_slower_than_half_settle_s_publishes_again(dynamo_table: Table) -> None:
    client, name = dynamo_table
    slow = DynamoInbox(name, client=CrashingClient(client, delay_s=0.4), settle_s=0.5)
    assert slow.put("msg_1", body("p1")) is True
    items = event_items(dynamo_table)
    assert [(int(i["sk"]["N"]), i["webhook_id"]["S"]) for i in items] == [
        (1, "msg_1"),
        (2, "msg_1"),
    ]
    assert slow.put("msg_1", body("p1")) is False
