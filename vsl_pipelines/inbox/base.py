"""The inbox interface that the service writes to and the webhook sensor reads from.

Implementations: `PostgresInbox` locally; a DynamoDB one in AWS.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from vsl_pipelines.inbox.events import InboxEvent, WebhookSummary


@runtime_checkable
class WebhookInbox(Protocol):
    """Webhooks keyed by `webhook-id`, readable in commit order from a high-water cursor.

    A reader that has seen everything up to `cursor` and asks for `read_after(cursor)`
    must never miss an event committed later: an implementation assigns `seq` so that
    no event with a lower `seq` can become visible after one with a higher `seq`.
    """

    backend: str
    """A short name for health checks and logs ("postgres", "dynamodb")."""

    def put(self, webhook_id: str, body: bytes | str, received_at: datetime | None = None) -> bool:
        """Store a webhook; True if new, False for a redelivery of the same id (kept once)."""
        ...

    async def put_async(
        self,
        webhook_id: str,
        body: bytes | str,
        received_at: datetime | None = None,
        summary: WebhookSummary | None = None,
    ) -> bool:
        """`put` for the service's event loop (without a worker thread where the storage
        has an asynchronous client); `summary`: the body's, when the caller parsed it already."""
        ...

    def read_after(self, cursor: int, limit: int) -> list[InboxEvent]:
        """Up to `limit` events with `seq > cursor`, in `seq` order."""
        ...

    def latest_cursor(self) -> int:
        """The highest `seq` stored so far (0 when empty)."""
        ...

    def ping(self) -> None:
        """Raise if the storage does not answer."""
        ...
