"""The PostgreSQL resource: scripts, jobs, takes, approvals and compilations live here."""

import dagster as dg

from vsl_pipelines.db.embedded import resolve_database_url
from vsl_pipelines.settings import get_settings


class DatabaseResource(dg.ConfigurableResource):
    """`url` empty means DATABASE_URL, or the embedded PostgreSQL under the data folder."""

    url: str = ""

    def resolved_url(self) -> str:
        return self.url or resolve_database_url(get_settings())
