"""What the DynamoDB inbox alone does, on a real moto server: gaps, TTL, repair after a crash;
its contract with the Postgres inbox is in `test_base.py`."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.inbox.conftest import MISSING_TABLE, Table, body, event_items
from vsl_pipelines.inbox import dynamodb
from vsl_pipelines.inbox.dynamodb import DynamoInbox, create_inbox_table


@pytest.fixture
def inbox(dynamo_table: Table) -> DynamoInbox:
    client, name = dynamo_table
    return DynamoInbox(name, client=client)


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


def test_an_event_expires_after_seven_days(inbox: DynamoInbox, dynamo_table: Table) -> None:
    inbox.put("msg_1", body("p1"))
    [item] = event_items(dynamo_table)
    expires = datetime.fromtimestamp(int(item["expires_at"]["N"]), UTC)
    assert abs(expires - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=1)


def test_read_after_pages_through_more_than_one_query_page(
    inbox: DynamoInbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dynamodb, "_PAGE", 4)  # items per Query page
    for i in range(11):
        inbox.put(f"msg_{i}", body(f"p{i}"))
    assert [e.seq for e in inbox.read_after(0, 500)] == list(range(1, 12))
    assert [e.seq for e in inbox.read_after(2, 5)] == list(range(3, 8))
    assert inbox.latest_cursor() == 11


def test_a_missing_table_is_named(dynamo_table: Table) -> None:
    client, _ = dynamo_table
    with pytest.raises(RuntimeError, match=MISSING_TABLE):
        DynamoInbox(MISSING_TABLE, client=client).ping()


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
