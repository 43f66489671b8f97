"""Opening the project's database from the command line and services: resolve, then migrate."""

from __future__ import annotations

from vsl_pipelines.db.embedded import resolve_database_url
from vsl_pipelines.db.migrations import apply_migrations
from vsl_pipelines.settings import Settings, get_settings


def ready_database_url(settings: Settings | None = None) -> str:
    """The database URL with every migration applied (starting the embedded server if needed)."""
    url = resolve_database_url(settings or get_settings())
    apply_migrations(url)
    return url
