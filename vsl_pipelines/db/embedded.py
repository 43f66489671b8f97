"""The embedded PostgreSQL used when `DATABASE_URL` is unset, kept under the data folder.

Its lifetime is counted in holders, with pgserver's own bookkeeping: a process that uses the
server (`embedded_database_url`) starts it if it is not running and adds its pid to pgserver's
handle list (`postgres/.handle_pids.json`). Inside `embedded_server_lifetime()`, which every
`vsl` command runs in, the process lets go at the end (success, error, Ctrl-C or SIGTERM) and,
when no other live process holds the server, stops it through pgserver (`pg_ctl stop`, fast
shutdown). So a command that starts the server stops it, and one that finds it held by
another process (`vsl dev`, `vsl serve`, another command) leaves it running; the last one
out stops it. A pid left on the list by a process that died without letting go (SIGKILL, a
crash) is dropped first, so a server left running by such a process is adopted by the next
one and stopped when that one ends.

Dagster's processes (run on the embedded server only when started by hand without
`DATABASE_URL`; `vsl dev` and `vsl demo` hand them the URL) hold the server while they live
and never stop it themselves.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from vsl_pipelines.logs import get_logger

if TYPE_CHECKING:
    from vsl_pipelines.settings import Settings

log = get_logger("vsl_pipelines.db.embedded")


@dataclass
class _Hold:
    """This process's hold on one data folder's server."""

    pid: int  # the process that holds it (a forked child inherits the record, not the hold)
    server: Any  # pgserver.PostgresServer
    url: str
    env_set: bool = False  # DATABASE_URL was set to `url` here, and is removed on release


_holds: dict[Path, _Hold] = {}
_lock = threading.Lock()
_scope_depth = 0
_previous_sigterm: Any = None  # the SIGTERM handler to restore, when one was installed here


def _pgdata(data_dir: Path) -> Path:
    return (data_dir / "postgres").expanduser().resolve()


def embedded_database_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded server under `data_dir/postgres`, hold it, return its URL."""
    return _hold(data_dir).url


def _hold(data_dir: Path) -> _Hold:
    pgdata = _pgdata(data_dir)
    with _lock:
        hold = _holds.get(pgdata)
        if hold is not None and hold.pid == os.getpid():
            return hold
        import pgserver  # imported lazily: only the embedded setup needs it

        pgdata.mkdir(parents=True, exist_ok=True)
        with pgserver.PostgresServer._lock:  # pgserver starts and registers under this lock
            running = embedded_server_pid(data_dir)
            orphaned = running is not None and not _live_holders(pgdata)
        if orphaned:
            log.warning(
                "the embedded PostgreSQL under %s (pid %d) was left running by a process that "
                "is gone; this process adopts it and stops it when it ends",
                pgdata,
                running,
            )
        # A handle pgserver keeps from an earlier hold of this process may describe a server
        # stopped since: get_server then makes a new one, which checks and starts it again.
        pgserver.PostgresServer._instances.pop(pgdata, None)
        # cleanup_mode=None: pgserver's exit hook only drops this pid; stopping is decided on
        # release, where dead holders are pruned first (pgserver never prunes them).
        server = pgserver.get_server(pgdata, cleanup_mode=None)
        hold = _holds[pgdata] = _Hold(os.getpid(), server, server.get_uri())
        if _scope_depth:
            _end_on_sigterm()
        return hold


def resolve_database_url(settings: Settings) -> str:
    """`DATABASE_URL` if set, else the embedded server's URL (started on first use, held)."""
    if settings.database_url:
        return settings.database_url
    hold = _hold(settings.data_dir)
    if "DATABASE_URL" not in os.environ:
        os.environ["DATABASE_URL"] = hold.url  # for the processes this one starts
        hold.env_set = True
    return hold.url


def embedded_server_pid(data_dir: Path) -> int | None:
    """The postmaster's pid when the embedded server under `data_dir` runs, else None."""
    try:
        pid = int((data_dir / "postgres" / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def embedded_server_holders(data_dir: Path) -> list[int]:
    """The live processes holding the embedded server under `data_dir` (pgserver's list)."""
    return _live_holders(_pgdata(data_dir))


def _live_holders(pgdata: Path) -> list[int]:
    from pgserver.utils import DiskList

    return [pid for pid in DiskList(pgdata / ".handle_pids.json").get() if _alive(pid)]


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (one that has ended but is not reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: alive
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: taken as alive
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def release_embedded_servers() -> list[Path]:
    """Let go of every embedded server this process holds; stop each one no other live process
    holds. Returns the `postgres` directories whose server was stopped; a stop that fails is
    logged, never raised (the command's own outcome stands)."""
    with _lock:
        mine = [(p, h) for p, h in _holds.items() if h.pid == os.getpid()]
        for pgdata, _ in mine:
            del _holds[pgdata]
    stopped = []
    try:
        for pgdata, hold in mine:
            try:
                if _release(hold):
                    stopped.append(pgdata)
            except Exception:
                log.exception("could not stop the embedded PostgreSQL under %s", pgdata)
    finally:
        _restore_sigterm()
    return stopped


def _release(hold: _Hold) -> bool:
    """Drop this process from the server's holders; True when that stopped it."""
    from vsl_pipelines.db.connection import close_pool

    close_pool(hold.url)  # this process's sessions end before the server does
    if hold.env_set and os.environ.get("DATABASE_URL") == hold.url:
        del os.environ["DATABASE_URL"]
    server = hold.server
    with server._lock:  # pgserver's lock over its handle list and its starts
        holders = server.global_process_id_list
        holders.put([pid for pid in holders.get() if pid == hold.pid or _alive(pid)])
    # pgserver's cleanup drops this pid and, when no other pid is left, stops the server
    # (`pg_ctl -w stop`, terminating it if that fails).
    server.cleanup_mode = "stop"
    try:
        server.cleanup()
    finally:
        server.cleanup_mode = None  # its exit hook then does nothing more
    if embedded_server_pid(server.pgdata.parent) is not None:
        return False
    log.info("stopped the embedded PostgreSQL under %s", server.pgdata)
    return True


@contextmanager
def embedded_server_lifetime() -> Iterator[None]:
    """Whatever embedded server is taken inside is let go at the end, and stopped when no other
    live process holds it. While it is held, SIGTERM ends the process as an exception (exit
    status 143) so this still runs. Nested uses let go at the outermost end."""
    global _scope_depth
    _scope_depth += 1
    try:
        yield
    finally:
        _scope_depth -= 1
        if _scope_depth == 0:
            release_embedded_servers()


def _terminated(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _end_on_sigterm() -> None:
    """SIGTERM unwinds (instead of killing) a process holding the server in a lifetime scope,
    unless someone else already handles it (`vsl dev`, uvicorn while it serves)."""
    global _previous_sigterm
    if threading.current_thread() is not threading.main_thread() or _previous_sigterm is not None:
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        _previous_sigterm = signal.signal(signal.SIGTERM, _terminated)


def _restore_sigterm() -> None:
    global _previous_sigterm
    if _previous_sigterm is None or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is _terminated:
        signal.signal(signal.SIGTERM, _previous_sigterm)
    _previous_sigterm = None
