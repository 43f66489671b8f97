"""A PostgreSQL database as one object, handed to whatever needs the database.

`Database` lends connections from this process's pool for its URL (`db/connection.py`: fork
safe, checked before each loan). The rule everywhere above `db/`: a function that does one unit
of work takes a connection (`conn`); only functions that do slow I/O between transactions
(collecting outputs, compiling, a sensor's tick) take the `Database`. No function outside `db/`
takes a URL string: a process reads it from settings once (`Database.from_settings`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from vsl_pipelines.db import connection

if TYPE_CHECKING:
    from vsl_pipelines.db.connection import Conn, Pool
    from vsl_pipelines.settings import Settings


class Database:
    """One database: `connect()` lends a pooled connection for a `with` block (committed when
    the block succeeds), `transaction()` the same as one explicit transaction."""

    __slots__ = ("_url",)

    def __init__(self, url: str) -> None:
        if not url:
            raise ValueError("a database needs a URL")
        self._url = url

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """`DATABASE_URL`, or the embedded server under the data folder (started and held)."""
        from vsl_pipelines.db.embedded import resolve_database_url

        return cls(resolve_database_url(settings))

    @property
    def url(self) -> str:
        """The connection string, for what connects by itself (an async pool, a child
        process's environment); never logged or shown."""
        return self._url

    @property
    def name(self) -> str:
        """Where it connects, without the password."""
        return connection.pool_name(self._url)

    def __repr__(self) -> str:
        return f"Database({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Database) and other._url == self._url

    def __hash__(self) -> int:
        return hash(self._url)

    @contextmanager
    def connect(self, *, autocommit: bool = False, timeout: float | None = None) -> Iterator[Conn]:
        """A pooled connection for one `with` block (see `connection.connect`)."""
        with connection.connect(self._url, autocommit=autocommit, timeout=timeout) as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[Conn]:
        """A connection whose work commits on success and rolls back on error."""
        with connection.transaction(self._url) as conn:
            yield conn

    def pool(
        self,
        *,
        min_size: int | None = None,
        max_size: int | None = None,
        timeout: float | None = None,
    ) -> Pool:
        """This process's pool, opened on first use; sizes given resize it."""
        return connection.get_pool(self._url, min_size=min_size, max_size=max_size, timeout=timeout)

    def close(self) -> None:
        """Close this process's pool (the next loan opens a new one)."""
        connection.close_pool(self._url)
