"""Each inbox back end as the contract tests (`test_base.py`) drive it: the inbox, more inboxes
on the same storage, and what the storage holds, read behind the inbox's back."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from vsl_pipelines.db.database import Database
from vsl_pipelines.inbox.base import WebhookInbox
from vsl_pipelines.inbox.dynamodb import DynamoInbox
from vsl_pipelines.inbox.postgres import PostgresInbox

Table = tuple[Any, str]

UNREACHABLE_DATABASE = "postgresql://postgres@127.0.0.1:1/nope?connect_timeout=2"
MISSING_TABLE = "vsl-no-such-table"


def body(prediction_id: str, status: str = "succeeded") -> str:
    return json.dumps({"id": prediction_id, "status": status, "output": None})


@dataclass(frozen=True)
class StoredWebhook:
    """One stored webhook as its storage holds it; `seq` is None until a reader numbers it."""

    webhook_id: str
    prediction_id: str | None
    status: str | None
    body: str
    received_at: datetime
    seq: int | None


@dataclass(frozen=True)
class InboxBackend:
    name: str
    inbox: WebhookInbox
    open_inbox: Callable[[], WebhookInbox]
    """Another inbox on the same storage, as another process opens it."""
    stored: Callable[[], list[StoredWebhook]]
    """Every stored webhook, oldest first."""
    missing: WebhookInbox
    """An inbox whose storage is not there."""
    writers: tuple[int, int]
    """Concurrent writers and webhooks each that the storage takes within a test's time."""
    seqs_without_gaps: bool
    """A gap holds the reader back (DynamoDB), so the writers must leave none."""


def event_items(dynamo_table: Table) -> list[dict[str, Any]]:
    client, name = dynamo_table
    return client.query(
        TableName=name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "events"}},
        ConsistentRead=True,
    )["Items"]


@pytest.fixture
def postgres_backend(db: Database) -> Iterator[InboxBackend]:
    opened: list[PostgresInbox] = []

    def open_inbox() -> PostgresInbox:
        inbox = PostgresInbox(db)  # every inbox of the process shares its pool
        opened.append(inbox)
        return inbox

    def stored() -> list[StoredWebhook]:
        with db.connect() as conn:
            rows = conn.execute(
                "SELECT webhook_id, prediction_id, status, body, received_at, seq"
                " FROM webhook_inbox ORDER BY received_at, webhook_id"
            ).fetchall()
        return [StoredWebhook(**row) for row in rows]

    yield InboxBackend(
        name="postgres",
        inbox=open_inbox(),
        open_inbox=open_inbox,
        stored=stored,
        missing=PostgresInbox(Database(UNREACHABLE_DATABASE)),
        writers=(8, 50),
        seqs_without_gaps=False,
    )
    for inbox in opened:
        inbox.close()


@pytest.fixture
def dynamodb_backend(dynamo_table: Table) -> InboxBackend:
    client, name = dynamo_table

    def open_inbox() -> DynamoInbox:
        return DynamoInbox(name, client=client)

    def stored() -> list[StoredWebhook]:
        return [
            StoredWebhook(
                webhook_id=item["webhook_id"]["S"],
                prediction_id=item.get("prediction_id", {}).get("S"),
                status=item.get("status", {}).get("S"),
                body=item["body"]["S"],
                received_at=datetime.fromisoformat(item["received_at"]["S"]),
                seq=int(item["sk"]["N"]),
            )
            for item in event_items(dynamo_table)
        ]

    return InboxBackend(
        name="dynamodb",
        inbox=open_inbox(),
        open_inbox=open_inbox,
        stored=stored,
        missing=DynamoInbox(MISSING_TABLE, client=client),
        writers=(5, 16),  # moto serves one request at a time
        seqs_without_gaps=True,
    )
