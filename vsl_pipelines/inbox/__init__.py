"""The webhook inbox: verified Replicate webhooks, stored once each, read back by a cursor.

The service writes it; the webhook sensor reads it from a high-water `seq` cursor. A table
name set means DynamoDB, otherwise the Postgres table (`make_inbox`).
"""

from __future__ import annotations

from vsl_pipelines.db.database import Database
from vsl_pipelines.inbox.base import WebhookInbox
from vsl_pipelines.inbox.events import (
    TERMINAL_STATUSES,
    InboxEvent,
    InvalidWebhookBody,
    PredictionEvent,
    PredictionStatus,
    WebhookSummary,
    summarize_webhook_body,
)
from vsl_pipelines.inbox.postgres import PostgresInbox

__all__ = [
    "TERMINAL_STATUSES",
    "InboxEvent",
    "InvalidWebhookBody",
    "PostgresInbox",
    "PredictionEvent",
    "PredictionStatus",
    "WebhookInbox",
    "WebhookSummary",
    "make_inbox",
    "summarize_webhook_body",
]


def make_inbox(
    *,
    db: Database,
    dynamodb_table: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> WebhookInbox:
    if dynamodb_table:
        from vsl_pipelines.inbox.dynamodb import DynamoInbox

        return DynamoInbox(dynamodb_table, endpoint_url=endpoint_url, region=region)

    return PostgresInbox(db)
