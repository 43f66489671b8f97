"""Choosing each seam's implementation from configuration, in one place.

A bucket name set means S3, a table name set means DynamoDB; otherwise the local folder and
the Postgres inbox. Assets, sensors and the service never branch on this themselves.
"""

from __future__ import annotations

from pathlib import Path

from vsl_pipelines.inbox.base import WebhookInbox
from vsl_pipelines.storage.base import MediaStore


def make_media_store(
    *,
    root: Path,
    public_base_url: str,
    s3_bucket: str | None = None,
    s3_prefix: str = "",
    endpoint_url: str | None = None,
    region: str | None = None,
) -> MediaStore:
    if s3_bucket:
        from vsl_pipelines.storage.s3 import S3MediaStore

        return S3MediaStore(
            s3_bucket,
            prefix=s3_prefix,
            endpoint_url=endpoint_url,
            region=region,
            cache_dir=root / ".s3-cache",
        )
    from vsl_pipelines.storage.local import LocalMediaStore

    return LocalMediaStore(root, public_base_url)


def make_inbox(
    *,
    database_url: str,
    dynamodb_table: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> WebhookInbox:
    if dynamodb_table:
        from vsl_pipelines.inbox.dynamodb import DynamoInbox

        return DynamoInbox(dynamodb_table, endpoint_url=endpoint_url, region=region)
    from vsl_pipelines.inbox.postgres import PostgresInbox

    return PostgresInbox(database_url)
