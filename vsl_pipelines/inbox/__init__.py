"""The webhook inbox: verified Replicate webhooks, stored once each, read back by a cursor.

The service writes it; the webhook sensor reads it from a high-water `seq` cursor.
"""

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
    "summarize_webhook_body",
]
