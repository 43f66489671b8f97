"""The embedded PostgreSQL used when `DATABASE_URL` is unset, kept under the data folder."""

from __future__ import annotations

import os
from pathlib import Path

from vsl_pipelines.settings import Settings


def embedded_database_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded server under `data_dir/postgres` and return its URL."""
    import pgserver  # imported lazily: only the embedded setup needs it

    pgdata = data_dir / "postgres"
    pgdata.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None keeps the server running for the other processes that share it.
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    return server.get_uri()


def resolve_database_url(settings: Settings) -> str:
    """`DATABASE_URL` if set, else the embedded server's URL (started on first use)."""
    if settings.database_url:
        return settings.database_url
    url = embedded_database_url(settings.data_dir)
    os.environ.setdefault("DATABASE_URL", url)
    return url
