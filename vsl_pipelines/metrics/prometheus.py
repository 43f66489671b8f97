"""`GET /metrics`: the flow's metrics in Prometheus text format, derived from the database at
each scrape.

Why from the database: the events happen in the service, the sensors and in runs that Dagster
launches as separate processes (and, deployed, in separate containers). Prometheus'
multi-process mode needs one folder shared by all of them on one host; the database already is
the shared record of every job, webhook and compilation. Only the status cache's hits and
misses happen in the serving process alone, so those are counted in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from vsl_pipelines.db import metrics as metric_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.metrics import Distribution, ModelJobCounts
from vsl_pipelines.logs import get_logger
from vsl_pipelines.metrics.status_reads import status_reads

log = get_logger(__name__)

PROCESSING_BOUNDS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
WEBHOOK_BOUNDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
COMPILE_BOUNDS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


def _buckets(values: Distribution, bounds: Sequence[float]) -> list[tuple[str, float]]:
    return [(repr(b), float(n)) for b, n in zip(bounds, values.at_most, strict=True)] + [
        ("+Inf", float(values.count))
    ]


class FlowCollector(Collector):
    """Jobs started, completed and failed, processing time, webhook latency, compile time and
    cost, read from the database at each collection."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        try:
            with self.db.connect() as conn:
                yield from self._jobs(metric_rows.job_counts(conn))
                yield self._processing(metric_rows.processing_buckets(conn, PROCESSING_BOUNDS))
                yield self._histogram(
                    "vsl_webhook_latency_seconds",
                    "From a prediction's completion to its webhook in the inbox.",
                    metric_rows.webhook_latency_buckets(conn, WEBHOOK_BOUNDS),
                    WEBHOOK_BOUNDS,
                )
                yield self._histogram(
                    "vsl_compile_seconds",
                    "Wall time of succeeded compilations.",
                    metric_rows.compile_buckets(conn, COMPILE_BOUNDS),
                    COMPILE_BOUNDS,
                )
        except Exception:  # a scrape must answer even when the database does not
            log.exception("metrics collection failed")

    def _jobs(self, rows: Iterable[ModelJobCounts]) -> Iterator[Metric]:
        families = {
            "started": CounterMetricFamily(
                "vsl_jobs_started", "Predictions created.", labels=["model"]
            ),
            "completed": CounterMetricFamily(
                "vsl_jobs_completed", "Predictions that succeeded.", labels=["model"]
            ),
            "failed": CounterMetricFamily(
                "vsl_jobs_failed",
                "Predictions failed, canceled, aborted or expired.",
                labels=["model"],
            ),
            "cost_usd": CounterMetricFamily(
                "vsl_cost_usd", "Estimated cost of the predictions created.", labels=["model"]
            ),
            "actual_usd": CounterMetricFamily(
                "vsl_cost_actual_usd",
                "Actual cost of the predictions that ended, as Replicate bills it.",
                labels=["model"],
            ),
        }
        for row in rows:
            for column, family in families.items():
                family.add_metric([row.model_id], float(getattr(row, column)))
        yield from families.values()

    def _processing(self, rows: Iterable[Distribution]) -> Metric:
        family = HistogramMetricFamily(
            "vsl_processing_seconds",
            "How long succeeded predictions took.",
            labels=["model"],
        )
        for row in rows:
            family.add_metric([row.model_id or ""], _buckets(row, PROCESSING_BOUNDS), row.total)
        return family

    def _histogram(
        self, name: str, documentation: str, row: Distribution, bounds: Sequence[float]
    ) -> Metric:
        return HistogramMetricFamily(
            name, documentation, buckets=_buckets(row, bounds), sum_value=row.total
        )


class _CacheReads(Collector):
    """Reads of job status in this process, by the layer that answered (counted in memory by
    `metrics/status_reads.py`)."""

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "vsl_status_reads",
            "Job status reads, by the layer that answered (redis, dynamodb, database, missing).",
            labels=["layer"],
        )
        for layer, count in sorted(status_reads().items()):
            family.add_metric([layer], float(count))
        return [family]


def metrics_renderer(db: Database) -> Callable[[], bytes]:
    """A function rendering every metric in Prometheus' text format, one scrape per call."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FlowCollector(db))
    registry.register(_CacheReads())
    return lambda: generate_latest(registry)
