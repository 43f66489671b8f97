"""A moto server for S3 and DynamoDB, one request at a time: `python tests/serve_moto.py HOST PORT`.

moto's own WSGI app, threaded like `ThreadedMotoServer`, but serialized: moto's DynamoDB does
conditional puts and `ADD` as unlocked read-modify-writes, so two concurrent requests can both
pass `attribute_not_exists` or get the same counter value, which real DynamoDB never allows
(measured: duplicate seqs with 6 writer threads). Used by the tests (tests/fixtures/aws.py),
the benchmarks (benchmarks/harness.py), both through `running_moto`, and the deployment test
(deploy/local/topology.py), which runs it beside its other processes.
"""

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()


@contextmanager
def running_moto(host: str = "127.0.0.1") -> Iterator[str]:
    """This script in its own process on a free port: its endpoint URL once it answers;
    stopped afterwards."""
    import httpx

    with socket.socket() as probe:
        probe.bind((host, 0))
        port = int(probe.getsockname()[1])
    server = subprocess.Popen(
        [sys.executable, str(SCRIPT), host, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://{host}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"moto server exited with {server.returncode}")
            try:
                if httpx.get(f"{endpoint}/moto-api/", timeout=1).status_code < 500:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto at {endpoint} did not answer within 30 s") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main(host: str, port: int) -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    app = DomainDispatcherApplication(create_backend_app)
    one_at_a_time = threading.Lock()

    def serialized(environ: Any, start_response: Any) -> list[bytes]:
        with one_at_a_time:
            return list(app(environ, start_response))

    run_simple(host, port, serialized, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
