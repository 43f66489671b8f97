"""The webhook inbox resource: a Postgres table here; DynamoDB implements the same interface."""

import dagster as dg

from vsl_pipelines.inbox.base import WebhookInbox
from vsl_pipelines.inbox.postgres import PostgresInbox


class InboxResource(dg.ConfigurableResource):
    database_url: str = ""

    def inbox(self, fallback_url: str) -> WebhookInbox:
        return PostgresInbox(self.database_url or fallback_url)
