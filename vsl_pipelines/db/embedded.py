"""The embedded PostgreSQL used when `DATABASE_URL` is unset, kept under the data folder.

It outlives the process that starts it (the CLI, the daemon and the service share it); `vsl
dev` and `vsl demo` stop it again when they were the ones to start it.
"""

from __future__ import annotations

import os
import signal
import time
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


def embedded_server_pid(data_dir: Path) -> int | None:
    """The postmaster's pid when the embedded server under `data_dir` runs, else None."""
    try:
        pid = int((data_dir / "postgres" / "postmaster.pid").read_text().split("\n", 1)[0])
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def stop_embedded_server(data_dir: Path, timeout_s: float = 30.0) -> bool:
    """Stop the embedded server (PostgreSQL's fast shutdown: SIGINT to the postmaster, which
    rolls back open transactions and closes every session); True once it is gone."""
    pid = embedded_server_pid(data_dir)
    if pid is None:
        return True
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if embedded_server_pid(data_dir) is None:
            return True
        time.sleep(0.1)
    return False
