"""The webhook inbox resource: a Postgres table, or DynamoDB when a table name is set."""

import dagster as dg

from vsl_pipelines.backends import make_inbox
from vsl_pipelines.inbox.base import WebhookInbox


class InboxResource(dg.ConfigurableResource):
    database_url: str = ""
    dynamodb_table: str | None = None
    aws_endpoint_url: str | None = None
    aws_region: str | None = None

    def inbox(self, fallback_url: str) -> WebhookInbox:
        return make_inbox(
            database_url=self.database_url or fallback_url,
            dynamodb_table=self.dynamodb_table,
            endpoint_url=self.aws_endpoint_url,
            region=self.aws_region,
        )
