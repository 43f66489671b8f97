"""Running the sandbox: blocking (`vsl sandbox`) or in a background thread (tests, embedded use).

Port 0 binds a free port first so the public URL is known before the first request.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn

from vsl_pipelines.logs import configure_logging, get_logger
from vsl_pipelines.sandbox.app import create_asgi_app
from vsl_pipelines.sandbox.config import SandboxConfig, SandboxKnobs
from vsl_pipelines.sandbox.engine import SandboxEngine

log = get_logger("vsl_pipelines.sandbox")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class _SandboxServer(uvicorn.Server):
    """Uvicorn that stops on SIGINT/SIGTERM without re-raising the signal afterwards.

    Uvicorn re-raises it once served, which would kill the process before the engine
    finishes its webhook deliveries and the command could exit 0.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _prepare(config: SandboxConfig) -> tuple[socket.socket, SandboxEngine, uvicorn.Server]:
    sock = _bind(config.host, config.port)
    bound = config.model_copy(update={"port": sock.getsockname()[1]})
    engine = SandboxEngine(bound)
    server_config = uvicorn.Config(
        create_asgi_app(engine),
        log_config=None,
        access_log=False,
        log_level=config.log_level.lower(),
        timeout_graceful_shutdown=2,
    )
    return sock, engine, _SandboxServer(server_config)


def run_sandbox(config: SandboxConfig) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM)."""
    configure_logging(config.log_level)
    sock, engine, server = _prepare(config)
    log.info(
        "sandbox listening",
        extra={"fields": {"api_url": engine.api_url, "data_dir": str(config.data_dir)}},
    )
    try:
        server.run(sockets=[sock])
    finally:
        engine.shutdown()
        sock.close()


@dataclass
class RunningSandbox:
    """A sandbox serving from a background thread."""

    engine: SandboxEngine
    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket

    @property
    def base_url(self) -> str:
        """The API root to give `replicate.Client(base_url=...)`: http://127.0.0.1:PORT/v1."""
        return self.engine.api_url

    @property
    def public_url(self) -> str:
        return self.engine.public_url

    @property
    def port(self) -> int:
        return self.engine.config.port

    @property
    def secret(self) -> str:
        return self.engine.secret

    @property
    def knobs(self) -> SandboxKnobs:
        """The live knobs: assigning a field changes the running sandbox's behaviour."""
        return self.engine.knobs

    def stop(self) -> None:
        if not self.thread.is_alive() and self.sock.fileno() == -1:
            return
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.engine.shutdown()
        self.sock.close()

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_sandbox_in_thread(config: SandboxConfig, startup_timeout_s: float = 10) -> RunningSandbox:
    """Start serving in a daemon thread and return once requests are accepted."""
    sock, engine, server = _prepare(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="sandbox-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            engine.shutdown()
            sock.close()
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    return RunningSandbox(engine=engine, server=server, thread=thread, sock=sock)
