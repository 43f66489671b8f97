"""`python -m vsl_pipelines.defs.code_server api grpc ...`: Dagster's code server, whose run
processes start from a copy of a process that has already imported the code location.

With the default run launcher, the code server starts each run in a new process through
multiprocessing's `spawn` (hard-wired in `DagsterApiServer`, no setting): a fresh interpreter
that imports Dagster and `vsl_pipelines.definitions` before the run's first step, 1.5-2 s of
CPU per run, paid again by every run. Here the server's context is multiprocessing's
`forkserver` instead, with the code location preloaded: a single-threaded helper process
imports it once, and each run is a fork of that helper (never of the threaded gRPC server,
which is what `spawn` protects against). Each run is still its own process, started, watched
and ended by the code server exactly as before; only its imports are inherited. The helper
imports the code when the server starts, as the server itself does, so both see the same code.

Everything else is `dagster` unchanged. If a Dagster release no longer has the attribute this
sets, it warns and the runs keep Dagster's `spawn`.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import dagster._grpc.server as grpc_server
from dagster._cli import main as dagster_main

CONTEXT_ATTRIBUTE = "_mp_ctx"
# The code location; what its runs import when they call Replicate, collect or compile (the
# code location itself defers those, for processes that do not run them); and this module: a
# run's process re-runs the server's main module (as `__mp_main__`) before it starts, which is
# free once its imports are loaded. Clients not configured (redis, boto3) stay out.
PRELOAD = (
    "vsl_pipelines.definitions",
    "vsl_pipelines.generation.predictions",
    "vsl_pipelines.media.compile",
    "vsl_pipelines.media.probe",
    "vsl_pipelines.media.stills",
    "vsl_pipelines.media.thumbnails",
    "httpx",
    "vsl_pipelines.defs.code_server",
)


def use_forkserver(preload: Sequence[str] = PRELOAD) -> bool:
    """Make every `DagsterApiServer` made from now on start runs from a forkserver that has
    imported `preload`; False (and a warning) when this Dagster no longer keeps its context
    in `_mp_ctx`, and runs keep being spawned."""
    server_class = grpc_server.DagsterApiServer
    original = server_class.__init__
    if getattr(original, "_vsl_forkserver", False):
        return True

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if not isinstance(
            getattr(self, CONTEXT_ATTRIBUTE, None), multiprocessing.context.BaseContext
        ):
            warnings.warn(
                f"DagsterApiServer.{CONTEXT_ATTRIBUTE} is gone; runs keep Dagster's spawn",
                stacklevel=2,
            )
            return
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(preload))
        # Started now, so the first run does not wait for the helper's imports.
        multiprocessing.forkserver.ensure_running()
        setattr(self, CONTEXT_ATTRIBUTE, context)

    __init__._vsl_forkserver = True  # type: ignore[attr-defined]
    server_class.__init__ = __init__  # type: ignore[method-assign]
    return True


def main() -> None:
    use_forkserver()
    sys.argv[0] = "dagster"
    dagster_main()


if __name__ == "__main__":
    main()
