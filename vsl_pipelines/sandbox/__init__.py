"""The Replicate-compatible local sandbox: the generation backend when no API token is set.

`start_sandbox_in_thread` for tests and embedding, `run_sandbox` / `vsl sandbox` to serve.
"""

from vsl_pipelines.sandbox.config import SandboxConfig, SandboxKnobs
from vsl_pipelines.sandbox.server import RunningSandbox, run_sandbox, start_sandbox_in_thread

__all__ = [
    "RunningSandbox",
    "SandboxConfig",
    "SandboxKnobs",
    "run_sandbox",
    "start_sandbox_in_thread",
]
