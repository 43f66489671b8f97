"""The local webhook inbox: the `webhook_inbox` table in PostgreSQL.

Writers insert without a number and take no lock. The reader numbers the committed rows it
finds (oldest first) from the table's sequence, under a lock only readers take, then reads
past its cursor: a row gets its number only once it is committed, and numbers only grow, so a
row that commits late is numbered after the cursor, never skipped (tests/inbox/test_postgres.py
runs concurrent writers against a reader at the high-water mark).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, cast

import psycopg
from psycopg_pool import AsyncConnectionPool

from vsl_pipelines.db.database import Database
from vsl_pipelines.inbox.events import (
    InboxEvent,
    InvalidWebhookBody,
    WebhookSummary,
    summarize_webhook_body,
)

# Held by readers while they number rows: two readers numbering at once could commit out of
# order (numbers 7-8 committed after 9), and a reader at cursor 9 would miss 7-8.
INBOX_READER_LOCK = 0x76736C5F696E6278  # "vsl_inbx"
# Rows numbered per reading, at most (a reader after a burst numbers it in steps).
NUMBER_BATCH = 5000

_INSERT = """
INSERT INTO webhook_inbox (webhook_id, prediction_id, status, received_at, body)
VALUES (%s, %s, %s, COALESCE(%s::timestamptz, now()), %s)
ON CONFLICT (webhook_id) DO NOTHING
RETURNING webhook_id
"""
_NUMBER = """
UPDATE webhook_inbox SET seq = nextval('webhook_inbox_seq_seq')
WHERE webhook_id IN (
    SELECT webhook_id FROM webhook_inbox WHERE seq IS NULL ORDER BY received_at LIMIT %s
)
"""
_READ_AFTER = """
SELECT seq, webhook_id, received_at, body FROM webhook_inbox
WHERE seq > %s ORDER BY seq LIMIT %s
"""

# A health check waits this long at most for a pooled connection.
PING_TIMEOUT_S = 5.0
# Connections of the service's asynchronous writer (one pool per event loop).
ASYNC_POOL_SIZE = 16
# A webhook waits at most this long for a connection (then 503: Replicate retries it).
ASYNC_POOL_TIMEOUT_S = 5.0


class PostgresInbox:
    """`WebhookInbox` on the `webhook_inbox` table, through the process's shared pool."""

    backend = "postgres"

    def __init__(self, db: Database) -> None:
        self.db = db
        self._async_pool: AsyncConnectionPool | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None

    def put(self, webhook_id: str, body: bytes | str, received_at: datetime | None = None) -> bool:
        with self.db.connect(autocommit=True) as conn:
            return (
                conn.execute(_INSERT, _params(webhook_id, body, received_at)).fetchone() is not None
            )

    async def put_async(
        self,
        webhook_id: str,
        body: bytes | str,
        received_at: datetime | None = None,
        summary: WebhookSummary | None = None,
    ) -> bool:
        """One autocommitted INSERT on the event loop's own pool (one round trip, no worker
        thread). A connection the server dropped fails the insert; it is then retried once on
        a fresh one, which is safe because a webhook is stored at most once."""
        params = _params(webhook_id, body, received_at, summary)
        pool = await self._pool_for_loop()
        for attempt in (1, 2):
            try:
                async with pool.connection() as conn:
                    cursor = await conn.execute(_INSERT, params)
                    return await cursor.fetchone() is not None
            except psycopg.OperationalError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _pool_for_loop(self) -> AsyncConnectionPool:
        loop = asyncio.get_running_loop()
        if self._async_pool is None or self._async_loop is not loop:
            # A server that cannot be reached fails here at once, with its own error, rather
            # than after the pool's wait.
            await (await psycopg.AsyncConnection.connect(self.db.url)).close()
            self._async_loop = loop
            self._async_pool = AsyncConnectionPool(
                self.db.url,
                # No server-side prepared statements (see db.connection); autocommit: one
                # statement, one round trip.
                kwargs={"prepare_threshold": None, "autocommit": True},
                min_size=1,
                max_size=ASYNC_POOL_SIZE,
                timeout=ASYNC_POOL_TIMEOUT_S,
                name=f"{self.db.name} inbox",
                open=False,
            )
            await self._async_pool.open()
        return self._async_pool

    def number_committed(self) -> None:
        """Give the committed rows without a number theirs, oldest first (readers only)."""
        with self.db.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (INBOX_READER_LOCK,))
            conn.execute(_NUMBER, (NUMBER_BATCH,))

    def read_after(self, cursor: int, limit: int) -> list[InboxEvent]:
        self.number_committed()
        with self.db.transaction() as conn:
            rows = conn.execute(_READ_AFTER, (cursor, limit)).fetchall()
        return [InboxEvent.model_validate(row) for row in rows]

    def latest_cursor(self) -> int:
        self.number_committed()
        with self.db.transaction() as conn:
            cur = conn.execute("SELECT coalesce(max(seq), 0) AS seq FROM webhook_inbox")
            row = cast(dict[str, Any], cur.fetchone())  # dict rows: see db.connection
        return int(row["seq"])

    def ping(self) -> None:
        with self.db.connect(timeout=PING_TIMEOUT_S) as conn:
            conn.execute("SELECT 1")

    async def close_async(self) -> None:
        """Close the event loop's pool, if one was opened."""
        if self._async_pool is not None:
            await self._async_pool.close()
            self._async_pool = None

    def close(self) -> None:
        """Nothing to release: the connections belong to the process's pool (`db.connection`),
        which other users share and which closes at exit. The inbox stays usable."""


def _params(
    webhook_id: str,
    body: bytes | str,
    received_at: datetime | None,
    summary: WebhookSummary | None = None,
) -> tuple[str, str | None, str | None, datetime | None, str]:
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if summary is None:
        try:
            summary = summarize_webhook_body(text)
        except InvalidWebhookBody:
            summary = None
    return (
        webhook_id,
        summary.prediction_id if summary else None,
        summary.status if summary else None,
        received_at,
        text,
    )
