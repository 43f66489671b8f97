"""Pydantic models of what the inbox holds: the stored webhook and Replicate's prediction payload.

Storage-neutral: the Postgres and DynamoDB inboxes both return `InboxEvent`s.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from vsl_pipelines.domain.strict_json import NestedTooDeeply, StrictJsonError, loads_strict

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
    """The body is not a JSON object with a string `id` and `status`, or is not one the sensor
    could apply (not UTF-8, nested too deep, a string the database cannot hold)."""


class WebhookSummary(NamedTuple):
    prediction_id: str
    status: str


MAX_WEBHOOK_DEPTH = 64  # nested objects and arrays; a prediction needs a handful
BOM = "\ufeff"
# Text the database refuses (NUL) or cannot encode (a surrogate without its pair).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def webhook_text(body: bytes | str) -> str:
    """The body as the inbox stores it and the sensor reads it: UTF-8 text without the byte
    order mark a sender may put first (RFC 8259 lets a parser ignore it; `json.loads` does not).

    Raises `InvalidWebhookBody` for a body that is not UTF-8 (UTF-16 or Latin-1, say).
    """
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidWebhookBody("body is not UTF-8 text") from None
    return body.removeprefix(BOM)


def summarize_webhook_body(body: bytes | str) -> WebhookSummary:
    """The prediction id and status of a webhook body, or `InvalidWebhookBody`.

    The body is read as the sensor reads it: UTF-8 text (no encoding guessed, no byte order
    mark skipped: pass `webhook_text(body)` for that) parsed by `json.loads`. Refused too: more
    than `MAX_WEBHOOK_DEPTH` levels, NaN or infinite numbers, strings with NUL or unpaired
    surrogates, which the sensor could not store. Deliberately looser than `PredictionEvent`: a
    status this code does not know yet is still stored (rejecting it would only make Replicate
    retry the same body).
    """
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidWebhookBody("body is not UTF-8 text") from None
    if "\x00" in body:  # what UTF-16 or UTF-32 JSON looks like, decoded as UTF-8
        raise InvalidWebhookBody("body is not UTF-8 JSON text (it has NUL characters)")
    try:
        payload = loads_strict(body)
    except NestedTooDeeply:
        raise InvalidWebhookBody(f"body nests deeper than {MAX_WEBHOOK_DEPTH} levels") from None
    except StrictJsonError as exc:
        raise InvalidWebhookBody(f"body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidWebhookBody(f"body is a JSON {type(payload).__name__}, not an object")
    _check_storable(payload)
    prediction_id = payload.get("id")
    status = payload.get("status")
    if not isinstance(prediction_id, str) or not prediction_id:
        raise InvalidWebhookBody("body field 'id' must be a non-empty string")
    if not isinstance(status, str) or not status:
        raise InvalidWebhookBody("body field 'status' must be a non-empty string")
    return WebhookSummary(prediction_id, status)


def _check_storable(payload: dict[str, Any]) -> None:
    """Depth and strings of a parsed body, walked without recursion."""
    stack: list[tuple[Any, int]] = [(payload, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_WEBHOOK_DEPTH:
                raise InvalidWebhookBody(f"body nests deeper than {MAX_WEBHOOK_DEPTH} levels")
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
            if isinstance(node, dict):
                stack.extend((key, depth) for key in node)
        elif isinstance(node, str) and _UNSTORABLE.search(node):
            raise InvalidWebhookBody("body has a string with NUL or an unpaired surrogate")
