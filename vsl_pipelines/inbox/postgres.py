"""The local webhook inbox: the `webhook_inbox` table in PostgreSQL.

Inserts serialize on an advisory lock so that `seq` order equals commit order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from vsl_pipelines.db.connection import connect, transaction
from vsl_pipelines.inbox.events import (
    InboxEvent,
    InvalidWebhookBody,
    WebhookSummary,
    summarize_webhook_body,
)

# Held for the length of each insert transaction. Without it two writers could take
# seq 7 and 8 and commit 8 first; a reader at cursor 8 would then never see 7.
INBOX_INSERT_LOCK = 0x76736C5F696E6278  # "vsl_inbx"

_INSERT = """
INSERT INTO webhook_inbox (webhook_id, prediction_id, status, received_at, body)
VALUES (%s, %s, %s, COALESCE(%s::timestamptz, now()), %s)
ON CONFLICT (webhook_id) DO NOTHING
RETURNING seq
"""
_READ_AFTER = """
SELECT seq, webhook_id, received_at, body FROM webhook_inbox
WHERE seq > %s ORDER BY seq LIMIT %s
"""

# A health check waits this long at most for a pooled connection.
PING_TIMEOUT_S = 5.0


class PostgresInbox:
    """`WebhookInbox` on the `webhook_inbox` table, through the process's shared pool."""

    backend = "postgres"

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def put(self, webhook_id: str, body: bytes | str, received_at: datetime | None = None) -> bool:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        summary: WebhookSummary | None
        try:
            summary = summarize_webhook_body(text)
        except InvalidWebhookBody:
            summary = None
        params = (
            webhook_id,
            summary.prediction_id if summary else None,
            summary.status if summary else None,
            received_at,
            text,
        )
        with transaction(self.database_url) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (INBOX_INSERT_LOCK,))
            return conn.execute(_INSERT, params).fetchone() is not None

    def read_after(self, cursor: int, limit: int) -> list[InboxEvent]:
        with transaction(self.database_url) as conn:
            rows = conn.execute(_READ_AFTER, (cursor, limit)).fetchall()
        return [InboxEvent.model_validate(row) for row in rows]

    def latest_cursor(self) -> int:
        with transaction(self.database_url) as conn:
            cur = conn.execute("SELECT coalesce(max(seq), 0) AS seq FROM webhook_inbox")
            row = cast(dict[str, Any], cur.fetchone())  # dict rows: see db.connection
        return int(row["seq"])

    def ping(self) -> None:
        with connect(self.database_url, timeout=PING_TIMEOUT_S) as conn:
            conn.execute("SELECT 1")

    def close(self) -> None:
        """Nothing to release: the connections belong to the process's pool (`db.connection`),
        which other users share and which closes at exit. The inbox stays usable."""
