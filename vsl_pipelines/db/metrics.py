"""Aggregates for the metrics endpoint: counts and distributions over jobs, the webhook inbox
and compilations, by model where it applies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vsl_pipelines.db.connection import Conn

FAILED = ["failed", "canceled", "aborted", "expired"]


def _bucket_columns(expression: str, bounds: Sequence[float]) -> str:
    """`le_0`, `le_1`, ...: how many rows have `expression` at most each bound."""
    return ", ".join(
        f"count(*) FILTER (WHERE {expression} <= {float(b)!r}) AS le_{i}"
        for i, b in enumerate(bounds)
    )


def job_counts(conn: Conn) -> list[dict[str, Any]]:
    """Per model: predictions started (created), completed, failed, and their estimated USD."""
    return conn.execute(
        "SELECT model_id, count(*) AS started,"
        " count(*) FILTER (WHERE status = 'succeeded') AS completed,"
        " count(*) FILTER (WHERE status = ANY(%s)) AS failed,"
        " coalesce(sum(estimated_cost_usd), 0) AS cost_usd"
        " FROM jobs WHERE status <> 'creating' GROUP BY model_id ORDER BY model_id",
        (FAILED,),
    ).fetchall()


def processing_buckets(conn: Conn, bounds: Sequence[float]) -> list[dict[str, Any]]:
    """Per model: how many finished predictions took at most each bound (seconds), their
    count and sum (Replicate's predict time, else creation to completion)."""
    seconds = "coalesce(predict_time_s, extract(epoch FROM completed_at - created_at))"
    buckets = _bucket_columns(seconds, bounds)
    return conn.execute(
        f"SELECT model_id, count(*) AS n, coalesce(sum({seconds}), 0) AS total, {buckets}"
        " FROM jobs WHERE status = 'succeeded' AND completed_at IS NOT NULL"
        " GROUP BY model_id ORDER BY model_id"
    ).fetchall()


def webhook_latency_buckets(conn: Conn, bounds: Sequence[float]) -> dict[str, Any]:
    """Completed webhooks in the Postgres inbox: received minus the prediction's completion
    (seconds), bucketed like `processing_buckets`."""
    latency = "extract(epoch FROM received_at - (body::jsonb ->> 'completed_at')::timestamptz)"
    buckets = _bucket_columns(latency, bounds)
    row = conn.execute(
        f"SELECT count(*) AS n, coalesce(sum({latency}), 0) AS total, {buckets}"
        " FROM webhook_inbox WHERE status IN ('succeeded', 'failed', 'canceled')"
        " AND body::jsonb ->> 'completed_at' IS NOT NULL"
    ).fetchone()
    assert row is not None
    return row


def compile_buckets(conn: Conn, bounds: Sequence[float]) -> dict[str, Any]:
    """Succeeded compilations: wall time (seconds, from the run's start, not the request's)
    bucketed, and their count and sum."""
    seconds = "extract(epoch FROM completed_at - coalesce(started_at, created_at))"
    buckets = _bucket_columns(seconds, bounds)
    row = conn.execute(
        f"SELECT count(*) AS n, coalesce(sum({seconds}), 0) AS total, {buckets}"
        " FROM compilations WHERE status = 'succeeded' AND completed_at IS NOT NULL"
    ).fetchone()
    assert row is not None
    return row
