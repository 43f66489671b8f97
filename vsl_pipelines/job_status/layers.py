"""A job's status through three layers, as the original system read it: Redis, then the
real-time jobs table in DynamoDB, then PostgreSQL (the record). A miss fills the layers above
it; whoever changes a job publishes its new document to every layer, and each layer keeps only
the newest (status never moves backwards). Layers not configured are skipped, so the embedded
default reads PostgreSQL alone (with Redis when `REDIS_URL` is set).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from vsl_pipelines.db import jobs as job_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.job_status.documents import job_document
from vsl_pipelines.logs import get_logger
from vsl_pipelines.metrics import emf as metrics
from vsl_pipelines.metrics.status_reads import count_status_read

log = get_logger(__name__)


class StatusLayer(Protocol):
    layer: str

    def get(self, job_id: str) -> dict[str, Any] | None: ...

    def put(self, document: dict[str, Any]) -> bool: ...


@dataclass
class JobStatusLayers:
    """The cache layers in read order over the database."""

    db: Database
    caches: list[StatusLayer] = field(default_factory=list)

    def read(self, job_id: str, *, first: int = 0) -> tuple[dict[str, Any] | None, str]:
        """(the job's document, the layer that answered: a cache's name, `database`, or
        `missing` for a job that does not exist). `first`: the cache to start from (1 when the
        caller already missed Redis, as `warm_read` does)."""
        for index, cache in enumerate(self.caches):
            if index < first:
                continue
            document = cache.get(job_id)
            if document is not None:
                for above in self.caches[:index]:
                    above.put(document)
                self.count(cache.layer)
                return document, cache.layer
        with self.db.connect() as conn:
            row = job_rows.document_row(conn, job_id)
        if row is None:
            self.count("missing")
            return None, "missing"
        document = job_document(row)
        for cache in reversed(self.caches):  # the lower layer first, as writers do
            cache.put(document)
        self.count("database")
        return document, "database"

    def count(self, layer: str) -> None:
        """Count a read answered by `layer` (the one-trip read counts its own)."""
        count_status_read(layer)
        if self.caches and layer != "missing":
            hit = layer != "database"
            metrics.record({"CacheHitRate": 100 if hit else 0}, action="status_read")

    def publish(self, job_ids: Iterable[int]) -> list[dict[str, Any]]:
        """Write the current documents of `job_ids` to every layer; return them."""
        ids = sorted(set(job_ids))
        if not ids or not self.caches:
            return []
        with self.db.connect() as conn:
            documents = [job_document(row) for row in job_rows.document_rows(conn, ids)]
        for document in documents:
            for cache in reversed(self.caches):
                cache.put(document)
        return documents


def make_status_layers(
    db: Database,
    *,
    redis_url: str | None = None,
    redis_prefix: str = "vsl:",
    jobs_table: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> JobStatusLayers:
    """Redis when `redis_url` is set, the DynamoDB jobs table when `jobs_table` is."""
    # Each layer's client (redis, boto3) is imported only where the layer is configured.
    caches: list[StatusLayer] = []
    if redis_url:
        from vsl_pipelines.job_status.redis_documents import status_documents_from_url

        redis_layer = status_documents_from_url(redis_url, redis_prefix)
        if redis_layer is not None:
            caches.append(redis_layer)
    if jobs_table:
        from vsl_pipelines.job_status.dynamodb_table import DynamoJobsTable

        caches.append(DynamoJobsTable(jobs_table, endpoint_url=endpoint_url, region=region))
    return JobStatusLayers(db, caches)
