"""The production webhook inbox: one DynamoDB table written by the service, read by the sensor.

Layout (key `pk` string, `sk` number; `expires_at` is the table's TTL attribute):

- `pk="id#<webhook_id>", sk=0`: the dedupe record. A conditional put (attribute_not_exists)
  decides new vs redelivery. It holds `state` ("reserved" until the event is written, then
  "stored"), `owner` (a random token of the delivery writing it), `reserved_at` (epoch s)
  and, once stored, `seq`.
- `pk="counter", sk=0`: `seq`, bumped by an atomic UpdateItem ADD, only for new webhooks.
- `pk="events", sk=<seq>`: the event: `webhook_id`, `prediction_id`, `status`, `received_at`
  (ISO), `body` (raw text), `reserved_at` (epoch s, read just after the seq was taken),
  `expires_at`. After it is written, the dedupe record becomes "stored" (with `seq`) by an
  update conditional on `owner` still being the writer's token.

Ordering. A seq is taken before its event is written, so a reader can see seq 8 while 7 is
still in flight. `read_after` therefore stops at the first gap, unless the item after the gap
was reserved more than `settle_s` ago: the counter is linearizable, so the missing seq was
taken even earlier, and its writer is treated as crashed (the gap is skipped with a warning).
A writer whose own take-to-commit time exceeds `settle_s / 2` may have been skipped that way,
so it publishes a copy of the event at a fresh seq: a reader may then see a webhook twice
(harmless: the sensor applies events idempotently, status only moves forward) but never
misses one. The hosts' clocks must agree within `settle_s / 2`.

Crash repair. A delivery that crashed after the dedupe put leaves the record "reserved". A
redelivery waits while that reservation is younger than `settle_s` (the first delivery may
still finish), then takes ownership (a conditional update of `owner`) and writes the event at
a *fresh* seq: rewriting the reserved seq would be lost for any reader that already skipped it
as a settled gap. If the first delivery had in fact written its event before dying (or was
only stalled), the webhook is in the log twice: at-least-once, never lost.
The event put and the record update are two writes, not a TransactWriteItems: a transaction
could fence off the stalled writer, but costs twice the write units on every webhook for a
rare case whose only effect is a duplicate the sensor already tolerates.

Expired items (`expires_at` passed) are filtered out here: DynamoDB's TTL deletes them lazily.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.exceptions import ClientError

from vsl_pipelines.inbox.events import (
    InboxEvent,
    InvalidWebhookBody,
    WebhookSummary,
    summarize_webhook_body,
)
from vsl_pipelines.logs import get_logger

log = get_logger(__name__)

EVENTS_PK = "events"
COUNTER_PK = "counter"
TTL_ATTRIBUTE = "expires_at"
_POLL_S = 0.05
_PAGE = 100


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": str(value)}


def _id_key(webhook_id: str) -> dict[str, dict[str, str]]:
    return {"pk": _s(f"id#{webhook_id}"), "sk": _n(0)}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def dynamodb_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A DynamoDB client (at `endpoint_url` when given: moto, DynamoDB Local)."""
    return boto3.client("dynamodb", endpoint_url=endpoint_url, region_name=region)


def create_inbox_table(client: Any, table_name: str) -> None:
    """Create the inbox table (on-demand billing, TTL on `expires_at`) unless it exists."""
    create_ttl_table(
        client,
        table_name,
        {"pk": ("S", "HASH"), "sk": ("N", "RANGE")},
        TTL_ATTRIBUTE,
    )


def create_ttl_table(
    client: Any, table_name: str, key: dict[str, tuple[str, str]], ttl_attribute: str
) -> None:
    """Create an on-demand table keyed by `key` (name -> (type, HASH|RANGE)) with TTL on
    `ttl_attribute`, unless it exists; an existing table expiring by another attribute is an
    error. Shared by the inbox and the real-time jobs table."""
    try:
        client.create_table(
            TableName=table_name,
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": kind} for name, (kind, _) in key.items()
            ],
            KeySchema=[{"AttributeName": name, "KeyType": role} for name, (_, role) in key.items()],
            BillingMode="PAY_PER_REQUEST",
        )
    except ClientError as exc:
        if _code(exc) != "ResourceInUseException":
            raise
    client.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    ttl = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") in {"ENABLED", "ENABLING"}:
        if ttl.get("AttributeName") != ttl_attribute:
            raise RuntimeError(
                f"table {table_name!r} already expires items by {ttl.get('AttributeName')!r}, "
                f"not {ttl_attribute!r}"
            )
        return
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute},
    )


class DynamoInbox:
    """`WebhookInbox` on one DynamoDB table (see the module docstring for the protocol)."""

    backend = "dynamodb"

    def __init__(
        self,
        table_name: str,
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        ttl_days: int = 7,
        settle_s: float = 5.0,
    ) -> None:
        self.table_name = table_name
        self.client = client or dynamodb_client(endpoint_url, region)
        self.ttl_days = ttl_days
        self.settle_s = settle_s
        self._last_warned_gap = 0

    # -- writing -------------------------------------------------------------------------

    def put(self, webhook_id: str, body: bytes | str, received_at: datetime | None = None) -> bool:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        event = self._event_attributes(webhook_id, text, received_at or datetime.now(UTC))
        while True:
            token = uuid.uuid4().hex
            try:
                self.client.put_item(
                    TableName=self.table_name,
                    Item={
                        **_id_key(webhook_id),
                        "state": _s("reserved"),
                        "owner": _s(token),
                        "reserved_at": _n(time.time()),
                        TTL_ATTRIBUTE: event[TTL_ATTRIBUTE],
                    },
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise
                outcome = self._settle_redelivery(webhook_id, event)
                if outcome is None:
                    continue  # the record vanished (TTL): store it as new
                return outcome
            return self._publish(webhook_id, token, event)

    async def put_async(
        self,
        webhook_id: str,
        body: bytes | str,
        received_at: datetime | None = None,
        summary: WebhookSummary | None = None,
    ) -> bool:
        """`put` on a worker thread (boto3 has no asynchronous client)."""
        return await asyncio.to_thread(self.put, webhook_id, body, received_at)

    def _event_attributes(
        self, webhook_id: str, text: str, received_at: datetime
    ) -> dict[str, dict[str, str]]:
        if received_at.tzinfo is None:
            received_at = received_at.replace(tzinfo=UTC)
        expires = datetime.now(UTC) + timedelta(days=self.ttl_days)
        attributes = {
            "webhook_id": _s(webhook_id),
            "received_at": _s(received_at.isoformat()),
            "body": _s(text),
            TTL_ATTRIBUTE: _n(int(expires.timestamp())),
        }
        try:
            summary = summarize_webhook_body(text)
        except InvalidWebhookBody:
            return attributes
        return {
            **attributes,
            "prediction_id": _s(summary.prediction_id),
            "status": _s(summary.status),
        }

    def _publish(self, webhook_id: str, token: str, event: dict[str, dict[str, str]]) -> bool:
        """Take a seq and write the event there; False if another delivery took ownership."""
        started = time.time()
        seq = self._take_seq()
        if not self._write_event(webhook_id, token, seq, event):
            return False
        if time.time() - started > self.settle_s / 2:
            # Readers may already have skipped `seq` as a settled gap: publish a copy above.
            log.warning(
                "inbox write of seq %d was slow; publishing it again at a fresh seq",
                seq,
                extra={"webhook_id": webhook_id},
            )
            self._write_event(webhook_id, token, self._take_seq(), event)
        return True

    def _take_seq(self) -> int:
        response = self.client.update_item(
            TableName=self.table_name,
            Key={"pk": _s(COUNTER_PK), "sk": _n(0)},
            UpdateExpression="ADD seq :one",
            ExpressionAttributeValues={":one": _n(1)},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["seq"]["N"])

    def _write_event(
        self, webhook_id: str, token: str, seq: int, event: dict[str, dict[str, str]]
    ) -> bool:
        """Write the event at `seq`, then mark the dedupe record stored if this delivery owns it."""
        reserved_at = time.time()  # after the seq was taken: bounds every lower seq's reservation
        self.client.put_item(
            TableName=self.table_name,
            Item={"pk": _s(EVENTS_PK), "sk": _n(seq), "reserved_at": _n(reserved_at), **event},
            ConditionExpression="attribute_not_exists(pk)",
        )
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=_id_key(webhook_id),
                UpdateExpression="SET #state = :stored, seq = :seq",
                ConditionExpression="#owner = :token",
                ExpressionAttributeNames={"#state": "state", "#owner": "owner"},
                ExpressionAttributeValues={
                    ":stored": _s("stored"),
                    ":seq": _n(seq),
                    ":token": _s(token),
                },
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            log.warning(
                "inbox seq %d written after a redelivery took this webhook over; "
                "readers may see it twice",
                seq,
                extra={"webhook_id": webhook_id},
            )
            return False
        return True

    def _settle_redelivery(self, webhook_id: str, event: dict[str, dict[str, str]]) -> bool | None:
        """False once the first delivery is stored; True if this one had to repair it.

        None when the dedupe record no longer exists.
        """
        while True:
            record = self.client.get_item(
                TableName=self.table_name, Key=_id_key(webhook_id), ConsistentRead=True
            ).get("Item")
            if record is None:
                return None
            if record["state"]["S"] == "stored":
                return False
            age = time.time() - float(record["reserved_at"]["N"])
            if age <= self.settle_s:
                time.sleep(min(_POLL_S, self.settle_s - age + 0.001))
                continue
            token = uuid.uuid4().hex
            try:
                self.client.update_item(
                    TableName=self.table_name,
                    Key=_id_key(webhook_id),
                    UpdateExpression="SET #owner = :token, reserved_at = :now",
                    ConditionExpression="#owner = :previous AND #state = :reserved",
                    ExpressionAttributeNames={"#state": "state", "#owner": "owner"},
                    ExpressionAttributeValues={
                        ":token": _s(token),
                        ":now": _n(time.time()),
                        ":previous": record["owner"],
                        ":reserved": _s("reserved"),
                    },
                )
            except ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise
                continue  # stored or taken over meanwhile: look again
            log.warning(
                "inbox repairing a delivery reserved %.1fs ago and never stored",
                age,
                extra={"webhook_id": webhook_id},
            )
            return self._publish(webhook_id, token, event)

    # -- reading -------------------------------------------------------------------------

    def read_after(self, cursor: int, limit: int) -> list[InboxEvent]:
        if limit <= 0:
            return []
        now = time.time()  # before the query: a seq committed after it is judged by a later read
        events: list[InboxEvent] = []
        expected = cursor + 1
        for item in self._events(cursor, ascending=True):
            seq = int(item["sk"]["N"])
            if seq != expected:
                if now - float(item["reserved_at"]["N"]) <= self.settle_s:
                    break  # a lower seq may still be in flight
                if seq - 1 > self._last_warned_gap:
                    self._last_warned_gap = seq - 1
                    log.warning(
                        "inbox seqs %d..%d were reserved over %.1fs ago and never written; skipping",
                        expected,
                        seq - 1,
                        self.settle_s,
                    )
            expected = seq + 1
            if float(item[TTL_ATTRIBUTE]["N"]) <= now:
                continue
            events.append(
                InboxEvent(
                    seq=seq,
                    webhook_id=item["webhook_id"]["S"],
                    received_at=datetime.fromisoformat(item["received_at"]["S"]),
                    body=item["body"]["S"],
                )
            )
            if len(events) >= limit:
                break
        return events

    def latest_cursor(self) -> int:
        """The highest seq below which nothing is still in flight (0 when empty)."""
        now = time.time()
        latest: int | None = None
        above: tuple[int, float] | None = None  # the previous (higher) item: seq, reserved_at
        for item in self._events(None, ascending=False):
            seq, reserved_at = int(item["sk"]["N"]), float(item["reserved_at"]["N"])
            if latest is None:
                latest = seq
            if above and above[0] - seq > 1 and now - above[1] <= self.settle_s:
                latest = seq  # seqs between this item and the one above are still in flight
            if now - reserved_at > self.settle_s:
                return latest  # any gap below an old item is settled
            above = (seq, reserved_at)
        if above is None:
            return 0
        if above[0] > 1 and now - above[1] <= self.settle_s:
            return 0
        return latest or 0

    def _events(self, cursor: int | None, *, ascending: bool) -> Iterator[dict[str, Any]]:
        """Event items after `cursor` (or all), page by page."""
        condition = "pk = :pk" if cursor is None else "pk = :pk AND sk > :cursor"
        values = {":pk": _s(EVENTS_PK)}
        if cursor is not None:
            values[":cursor"] = _n(cursor)
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": ascending,
            "ConsistentRead": True,
            "Limit": _PAGE,
        }
        while True:
            page = self.client.query(**request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def ping(self) -> None:
        try:
            self.client.describe_table(TableName=self.table_name)
        except ClientError as exc:
            raise RuntimeError(
                f"DynamoDB inbox table {self.table_name!r} is not usable ({_code(exc)})"
            ) from None
