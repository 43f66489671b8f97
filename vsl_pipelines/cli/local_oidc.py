"""A real OpenID provider on this machine, for the embedded default and the tests.

`devtools/oidc/server.mjs` (Node.js, the OpenID-certified `oidc-provider` package) run as a child
process on 127.0.0.1: authorization code flow with PKCE (S256), its own login and consent pages,
the people and clients given here. Everything it knows is in memory and its signing key is made
at start, so each run starts afresh.

    with LocalOidcProvider(clients=[client], people=[person]) as provider:
        provider.issuer  # http://127.0.0.1:PORT, discovery under /.well-known/openid-configuration

Needs `node` (20+) and `devtools/oidc/node_modules` (`make setup` runs `npm ci` there).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from vsl_pipelines.settings import PROJECT_ROOT

SERVER_DIR = PROJECT_ROOT / "devtools" / "oidc"
READY = re.compile(r"^oidc-provider ready (\S+)\s*$")


class OidcProviderError(RuntimeError):
    """The provider could not start (or stopped early); the message says why."""


@dataclass(frozen=True)
class LocalPerson:
    """Someone who can sign in: email and password on the provider's login form."""

    email: str
    password: str
    name: str = ""  # default: the email's local part
    sub: str = ""  # default: a stable id derived from the email
    email_verified: bool = True

    def account(self) -> dict[str, Any]:
        return {
            "sub": self.sub or str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{self.email.lower()}")),
            "email": self.email,
            "email_verified": self.email_verified,
            "name": self.name or self.email.split("@", 1)[0],
            "password": self.password,
        }


@dataclass(frozen=True)
class OidcClient:
    """A relying party registered with the provider (confidential: client_secret_basic)."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...] = ()
    client_name: str = ""

    def registration(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
        }
        if self.client_name:
            entry["client_name"] = self.client_name
        return entry


@dataclass
class LocalOidcProvider:
    """`devtools/oidc/server.mjs` as a child process: started on enter (or `start()`), stopped on
    exit (SIGTERM, then SIGKILL). Port 0 takes a free port; `issuer` says which."""

    clients: Sequence[OidcClient]
    people: Sequence[LocalPerson]
    port: int = 0
    startup_timeout_s: float = 20.0
    node: str = "node"
    server_dir: Path = SERVER_DIR
    _process: subprocess.Popen[str] | None = field(default=None, init=False, repr=False)
    _issuer: str | None = field(default=None, init=False)
    _workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False, repr=False)
    _stdout_tail: deque[str] = field(
        default_factory=lambda: deque(maxlen=20), init=False, repr=False
    )
    _reader: threading.Thread | None = field(default=None, init=False, repr=False)

    @property
    def issuer(self) -> str:
        if self._issuer is None:
            raise OidcProviderError("the OpenID provider is not running")
        return self._issuer

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def config(self) -> dict[str, Any]:
        """What server.mjs reads (its header comment describes each field)."""
        return {
            "port": self.port,
            "clients": [client.registration() for client in self.clients],
            "accounts": [person.account() for person in self.people],
            # The provider exits when this process's end of its stdin closes, so it never
            # outlives us, even when we are killed.
            "exit_with_stdin": True,
        }

    def _command(self) -> list[str]:
        node = shutil.which(self.node)
        if node is None:
            raise OidcProviderError(
                f"`{self.node}` (Node.js 20 or later) is not on PATH: the local OpenID provider "
                "runs on it; install Node.js, then run `make setup`"
            )
        script = self.server_dir / "server.mjs"
        if not (self.server_dir / "node_modules" / "oidc-provider").is_dir():
            raise OidcProviderError(
                f"{self.server_dir / 'node_modules'} is missing: run `make setup` "
                f"(it runs `npm ci --prefix {self.server_dir}`)"
            )
        return [node, str(script)]

    def start(self) -> LocalOidcProvider:
        if self._process is not None:
            raise OidcProviderError("the OpenID provider is already running")
        command = self._command()
        self._workdir = tempfile.TemporaryDirectory(prefix="vsl-oidc-")
        workdir = Path(self._workdir.name)
        config_path = workdir / "config.json"
        config_path.write_text(json.dumps(self.config()))
        stderr_path = workdir / "stderr.log"
        ready = threading.Event()
        with open(stderr_path, "w") as stderr:
            self._process = subprocess.Popen(
                [*command, str(config_path)],
                cwd=self.server_dir,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, "NODE_ENV": "development"},
                start_new_session=True,  # our SIGTERM stops it, not the terminal's Ctrl-C
            )
        assert self._process.stdout is not None
        self._reader = threading.Thread(
            target=self._read_stdout, args=(self._process.stdout, ready), daemon=True
        )
        self._reader.start()
        deadline = time.monotonic() + self.startup_timeout_s
        while not ready.wait(0.05):
            if self._process.poll() is not None or time.monotonic() > deadline:
                break
        if not ready.is_set():
            code = self._process.poll()
            why = (
                f"exited with status {code}"
                if code is not None
                else f"did not say it was ready within {self.startup_timeout_s:g} s"
            )
            self._stop_process()
            detail = stderr_path.read_text(errors="replace")[-4000:].strip()
            out = "\n".join(self._stdout_tail).strip()
            self._cleanup()
            raise OidcProviderError(
                f"the local OpenID provider ({' '.join(command)}) {why}"
                + (f"\nstderr:\n{detail}" if detail else "")
                + (f"\nstdout:\n{out}" if out else "")
            )
        return self

    def _read_stdout(self, stdout: IO[str], ready: threading.Event) -> None:
        """Finds the ready line, then keeps draining stdout so the child never blocks on it."""
        for line in stdout:
            self._stdout_tail.append(line.rstrip())
            match = READY.match(line)
            if match and not ready.is_set():
                self._issuer = match[1]
                ready.set()

    def stop(self) -> None:
        """Stops the provider (SIGTERM, SIGKILL after 5 s) and removes its config; idempotent."""
        self._stop_process()
        self._cleanup()

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        self._issuer = None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        if self._reader is not None:
            self._reader.join(timeout=5)
            self._reader = None
        if process.stdout is not None:
            process.stdout.close()

    def _cleanup(self) -> None:
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> LocalOidcProvider:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
