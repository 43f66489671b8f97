"""The real-time jobs table in DynamoDB: the second layer of `GET /api/status/{jobId}`.

One item per job (`jobId` key): the status document, its `rank` and `expiresAt` (the table's
TTL attribute). Writes are conditional on the stored rank, so the status never moves backwards
however writers race; expired items are treated as absent (TTL deletes them lazily). A failing
table is a miss for readers and a warning for writers: PostgreSQL stays the record.
"""

from __future__ import annotations

import json
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from vsl_pipelines.domain.job_document import FINAL, PUBLIC_RANK, rank
from vsl_pipelines.inbox.dynamodb import create_ttl_table, dynamodb_client
from vsl_pipelines.logs import get_logger

log = get_logger(__name__)

TTL_ATTRIBUTE = "expiresAt"
FINAL_TTL_S = 30 * 86_400
ACTIVE_TTL_S = 86_400
_FINAL_RANK = max(PUBLIC_RANK.values())


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class DynamoJobsTable:
    layer = "dynamodb"

    def __init__(
        self,
        table_name: str,
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        self.table_name = table_name
        self.client = client or dynamodb_client(endpoint_url, region)

    def get(self, job_id: str) -> dict[str, Any] | None:
        try:
            item = self.client.get_item(
                TableName=self.table_name, Key={"jobId": {"S": job_id}}, ConsistentRead=False
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            log.warning("jobs table unavailable: %s", type(exc).__name__, extra={"job_id": job_id})
            return None
        if item is None or float(item[TTL_ATTRIBUTE]["N"]) < time.time():
            return None
        document: dict[str, Any] = json.loads(item["doc"]["S"])
        return document

    def put(self, document: dict[str, Any]) -> bool:
        """Store unless the table holds a newer document; False when not stored."""
        new_rank = rank(document)
        ttl = FINAL_TTL_S if document["status"] in FINAL else ACTIVE_TTL_S
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={
                    "jobId": {"S": document["jobId"]},
                    "rank": {"N": str(new_rank)},
                    "status": {"S": document["status"]},
                    "doc": {"S": json.dumps(document)},
                    TTL_ATTRIBUTE: {"N": str(int(time.time()) + ttl)},
                },
                ConditionExpression=(
                    "attribute_not_exists(jobId) OR #rank < :rank"
                    " OR (#rank = :rank AND :rank < :final)"
                ),
                ExpressionAttributeNames={"#rank": "rank"},
                ExpressionAttributeValues={
                    ":rank": {"N": str(new_rank)},
                    ":final": {"N": str(_FINAL_RANK)},
                },
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            log.warning(
                "jobs table not written: %s", _code(exc), extra={"job_id": document["jobId"]}
            )
            return False
        except BotoCoreError as exc:
            log.warning(
                "jobs table not written: %s",
                type(exc).__name__,
                extra={"job_id": document["jobId"]},
            )
            return False
        return True


def create_jobs_table(client: Any, table_name: str) -> None:
    """Create the jobs table (on-demand billing, TTL on `expiresAt`) unless it exists."""
    create_ttl_table(client, table_name, {"jobId": ("S", "HASH")}, TTL_ATTRIBUTE)
