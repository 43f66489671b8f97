"""Connections to PostgreSQL; the URL comes from settings or the embedded server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeAlias

import psycopg
from psycopg.rows import dict_row

Conn: TypeAlias = psycopg.Connection[dict[str, Any]]


def connect(database_url: str, *, autocommit: bool = False) -> Conn:
    """A psycopg connection returning rows as dicts."""
    return psycopg.connect(database_url, autocommit=autocommit, row_factory=dict_row)


def returned(row: dict[str, Any] | None) -> dict[str, Any]:
    """The row an INSERT/UPDATE ... RETURNING must give back."""
    if row is None:
        raise LookupError("the statement returned no row")
    return row


@contextmanager
def transaction(database_url: str) -> Iterator[Conn]:
    """A connection whose work commits on success and rolls back on error."""
    with connect(database_url) as conn, conn.transaction():
        yield conn
