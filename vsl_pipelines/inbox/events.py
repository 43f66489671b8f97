"""Pydantic models of what the inbox holds: the stored webhook and Replicate's prediction payload.

Storage-neutral: the Postgres and DynamoDB inboxes both return `InboxEvent`s.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

PredictionStatus = Literal["starting", "processing", "succeeded", "failed", "canceled", "aborted"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "canceled", "aborted"})


class PredictionMetrics(BaseModel):
    """Timing reported by Replicate; `predict_time` is what is billed."""

    model_config = ConfigDict(extra="allow")

    predict_time: float | None = None
    total_time: float | None = None


class PredictionEvent(BaseModel):
    """A Replicate webhook body: the prediction as it stands when the webhook was sent."""

    model_config = ConfigDict(extra="allow")

    id: str
    status: PredictionStatus
    model: str | None = None
    version: str | None = None
    input: dict[str, Any] | None = None
    output: Any = None
    error: Any = None
    logs: str | None = None
    metrics: PredictionMetrics | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    urls: dict[str, str | None] | None = None
    data_removed: bool | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class InboxEvent(BaseModel):
    """One stored webhook; `seq` orders events in commit order and is the readers' cursor."""

    model_config = ConfigDict(frozen=True)

    seq: int
    webhook_id: str
    received_at: datetime
    body: str

    def prediction(self) -> PredictionEvent:
        """Parse the raw body as Replicate's prediction payload."""
        return PredictionEvent.model_validate_json(self.body)


class InvalidWebhookBody(ValueError):
    """The body is not a JSON object with a string `id` and `status`."""


class WebhookSummary(NamedTuple):
    prediction_id: str
    status: str


def summarize_webhook_body(body: bytes | str) -> WebhookSummary:
    """The prediction id and status of a webhook body, or `InvalidWebhookBody`.

    Deliberately looser than `PredictionEvent`: a status this code does not know yet is
    still stored (rejecting it would only make Replicate retry the same body).
    """
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidWebhookBody(f"body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidWebhookBody(f"body is a JSON {type(payload).__name__}, not an object")
    prediction_id = payload.get("id")
    status = payload.get("status")
    if not isinstance(prediction_id, str) or not prediction_id:
        raise InvalidWebhookBody("body field 'id' must be a non-empty string")
    if not isinstance(status, str) or not status:
        raise InvalidWebhookBody("body field 'status' must be a non-empty string")
    return WebhookSummary(prediction_id, status)
