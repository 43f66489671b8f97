"""The local webhook inbox: the `webhook_inbox` table in PostgreSQL.

Inserts serialize on an advisory lock so that `seq` order equals commit order.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast

import psycopg
from psycopg import pq

from vsl_pipelines.db.connection import Conn, connect
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

T = TypeVar("T")


class PostgresInbox:
    """`WebhookInbox` on the `webhook_inbox` table; keeps a few idle connections for reuse."""

    backend = "postgres"

    def __init__(self, database_url: str, *, max_idle_connections: int = 4) -> None:
        self.database_url = database_url
        self._idle: queue.LifoQueue[Conn] = queue.LifoQueue(max_idle_connections)

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

        def insert(conn: Conn) -> bool:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (INBOX_INSERT_LOCK,))
                return conn.execute(_INSERT, params).fetchone() is not None

        return self._run(insert)

    def read_after(self, cursor: int, limit: int) -> list[InboxEvent]:
        def read(conn: Conn) -> list[InboxEvent]:
            with conn.transaction():
                rows = conn.execute(_READ_AFTER, (cursor, limit)).fetchall()
            return [InboxEvent.model_validate(row) for row in rows]

        return self._run(read)

    def latest_cursor(self) -> int:
        def latest(conn: Conn) -> int:
            with conn.transaction():
                cur = conn.execute("SELECT coalesce(max(seq), 0) AS seq FROM webhook_inbox")
                row = cast(dict[str, Any], cur.fetchone())  # dict rows: see db.connection
                return int(row["seq"])

        return self._run(latest)

    def ping(self) -> None:
        def select_one(conn: Conn) -> None:
            with conn.transaction():
                conn.execute("SELECT 1")

        self._run(select_one)

    def close(self) -> None:
        """Close the idle connections (the inbox stays usable and reconnects on demand)."""
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    def _run(self, work: Callable[[Conn], T]) -> T:
        """Run `work` on an idle connection; once more on a fresh one if the idle one died."""
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            return self._run_on(connect(self.database_url), work)
        try:
            return self._run_on(conn, work)
        except psycopg.OperationalError:
            # A reused connection may have been dropped by a server restart.
            return self._run_on(connect(self.database_url), work)

    def _run_on(self, conn: Conn, work: Callable[[Conn], T]) -> T:
        try:
            result = work(conn)
        except BaseException:
            conn.close()  # its state is unknown after an error: never reuse it
            raise
        if conn.closed or conn.info.transaction_status != pq.TransactionStatus.IDLE:
            conn.close()
        else:
            try:
                self._idle.put_nowait(conn)
            except queue.Full:
                conn.close()
        return result
