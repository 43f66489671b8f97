"""A moto server for S3 and DynamoDB, one request at a time: `python tests/serve_moto.py HOST PORT`.

moto's own WSGI app, threaded like `ThreadedMotoServer`, but serialized: moto's DynamoDB does
conditional puts and `ADD` as unlocked read-modify-writes, so two concurrent requests can both
pass `attribute_not_exists` or get the same counter value, which real DynamoDB never allows
(measured: duplicate seqs with 6 writer threads). Used by the tests (tests/fixtures/aws.py),
the benchmarks (benchmarks/harness.py) and the deployment test (deploy/local/topology.py).
"""

import sys
import threading
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()


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
