"""Aggregates for the metrics endpoint: counts and distributions over jobs, the webhook inbox
and compilations, by model where it applies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from vsl_pipelines.db.connection import Conn, fetch_all, fetch_one, returned

FAILED = ["failed", "canceled", "aborted", "expired"]


@dataclass(frozen=True)
class ModelJobCounts:
    """One model's predictions: started (created), completed, failed, estimated USD, and the
    actual USD of those that ended (billed from Replicate's figures, else their estimate)."""

    model_id: str
    started: int
    completed: int
    failed: int
    cost_usd: Decimal
    actual_usd: Decimal


@dataclass(frozen=True)
class Distribution:
    """How many values (`count`, summing to `total`) were at most each bound (`at_most`, in
    the bounds' order); `model_id` when it is one model's."""

    count: int
    total: float
    at_most: list[int]
    model_id: str | None = None


def _at_most(expression: str, bounds: Sequence[float]) -> str:
    """An array: how many rows have `expression` at most each bound."""
    counts = ", ".join(f"count(*) FILTER (WHERE {expression} <= {float(b)!r})" for b in bounds)
    return f"ARRAY[{counts}]::bigint[] AS at_most"


def job_counts(conn: Conn) -> list[ModelJobCounts]:
    """Per model: predictions started (created), completed, failed, and their estimated USD."""
    return fetch_all(
        conn,
        ModelJobCounts,
        "SELECT model_id, count(*) AS started,"
        " count(*) FILTER (WHERE status = 'succeeded') AS completed,"
        " count(*) FILTER (WHERE status = ANY(%s)) AS failed,"
        " coalesce(sum(estimated_cost_usd), 0) AS cost_usd,"
        " coalesce(sum(actual_cost_usd), 0) AS actual_usd"
        " FROM jobs WHERE status <> 'creating' GROUP BY model_id ORDER BY model_id",
        (FAILED,),
    )


def processing_buckets(conn: Conn, bounds: Sequence[float]) -> list[Distribution]:
    """Per model: how many finished predictions took at most each bound (seconds), their
    count and sum (Replicate's predict time, else creation to completion)."""
    seconds = "coalesce(predict_time_s, extract(epoch FROM completed_at - created_at))"
    return fetch_all(
        conn,
        Distribution,
        f"SELECT model_id, count(*) AS count, coalesce(sum({seconds}), 0)::float AS total,"
        f" {_at_most(seconds, bounds)}"
        " FROM jobs WHERE status = 'succeeded' AND completed_at IS NOT NULL"
        " GROUP BY model_id ORDER BY model_id",
    )


def webhook_latency_buckets(conn: Conn, bounds: Sequence[float]) -> Distribution:
    """Completed webhooks in the Postgres inbox: received minus the prediction's completion
    (seconds), bucketed like `processing_buckets`."""
    latency = "extract(epoch FROM received_at - (body::jsonb ->> 'completed_at')::timestamptz)"
    return returned(
        fetch_one(
            conn,
            Distribution,
            f"SELECT count(*) AS count, coalesce(sum({latency}), 0)::float AS total,"
            f" {_at_most(latency, bounds)}"
            " FROM webhook_inbox WHERE status IN ('succeeded', 'failed', 'canceled')"
            " AND body::jsonb ->> 'completed_at' IS NOT NULL",
        )
    )


def compile_buckets(conn: Conn, bounds: Sequence[float]) -> Distribution:
    """Succeeded compilations: wall time (seconds, from the run's start, not the request's)
    bucketed, and their count and sum."""
    seconds = "extract(epoch FROM completed_at - coalesce(started_at, created_at))"
    return returned(
        fetch_one(
            conn,
            Distribution,
            f"SELECT count(*) AS count, coalesce(sum({seconds}), 0)::float AS total,"
            f" {_at_most(seconds, bounds)}"
            " FROM compilations WHERE status = 'succeeded' AND completed_at IS NOT NULL",
        )
    )
