"""Connections to PostgreSQL; the URL comes from settings or the embedded server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import dict_row


def connect(database_url: str, *, autocommit: bool = False) -> psycopg.Connection:
    """A psycopg connection returning rows as dicts."""
    return psycopg.connect(database_url, autocommit=autocommit, row_factory=dict_row)  # type: ignore[arg-type]


@contextmanager
def transaction(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection whose work commits on success and rolls back on error."""
    with connect(database_url) as conn, conn.transaction():
        yield conn
