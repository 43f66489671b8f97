"""A notification reaches the address its host had when it was checked (DNS rebinding): real
local HTTP and HTTPS receivers, and a resolver the test controls, injected into the delivery's
guard. The guard refuses internal addresses as in production, but for the one receiver that
stands in for a public host (127.0.0.1); a second receiver on 127.0.0.2, an internal address,
plays the inside the rebound name points to."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fixtures.api import add_clip
from tests.fixtures.service import free_port
from vsl_pipelines.db import workspaces as workspace_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.script import Script
from vsl_pipelines.services.notifications import (
    AddressGuard,
    IpAddress,
    Notifier,
    StudioLinks,
    deliver,
    internal_address,
)

NAME = "hooks.rebind.test"
SECRET = "T0001/B0002/s3cr3tT0ken"
OUTSIDE = ipaddress.ip_address("127.0.0.1")  # stands in for the public address
INSIDE = "127.0.0.2"  # internal, refused


def refuses(address: IpAddress) -> bool:
    """Production's rule (`internal_address`), but for the receiver playing the public host."""
    return address != OUTSIDE and internal_address(address)


@dataclass
class Rebinding:
    """A name whose first lookup gives `first` and every later one `then`."""

    first: str
    then: str = INSIDE
    lookups: list[str] = field(default_factory=list)

    def __call__(self, name: str) -> list[str]:
        self.lookups.append(name)
        return [self.first if len(self.lookups) == 1 else self.then]


@dataclass
class Receiver:
    """A local HTTP(S) receiver: the requests it got (path, Host header) and the TLS names
    clients asked it for (SNI)."""

    address: str
    port: int
    requests: list[tuple[str, str]] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


@contextmanager
def _receiver(address: str, port: int, tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    receiver = Receiver(address, port)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            receiver.requests.append((self.path, self.headers.get("host", "")))
            status = receiver.statuses.pop(0) if receiver.statuses else 200
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((address, port), Handler)
    if tls is not None:
        tls.sni_callback = lambda _sock, name, _ctx: receiver.server_names.append(name)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    """The public stand-in and the inside, on the same port: only the address differs."""
    port = free_port()
    with _receiver(str(OUTSIDE), port) as outside, _receiver(INSIDE, port) as inside:
        yield outside, inside


def test_a_name_rebound_after_its_check_is_posted_to_the_address_that_passed(
    receivers: tuple[Receiver, Receiver],
) -> None:
    """Three attempts (two 503s), one lookup: every attempt goes to the checked address with
    the name in its Host header; the inside the name points to since hears nothing."""
    outside, inside = receivers
    outside.statuses[:] = [503, 503]
    resolver = Rebinding(first=str(OUTSIDE))
    url = f"http://{NAME}:{outside.port}/{SECRET}"
    delivered = deliver(url, {"text": "x"}, backoff_s=0.01, guard=AddressGuard(resolver, refuses))
    assert (delivered.ok, delivered.attempts, delivered.status) == (True, 3, 200)
    assert outside.requests == [(f"/{SECRET}", f"{NAME}:{outside.port}")] * 3
    assert inside.requests == [] and resolver.lookups == [NAME]
    # The same name, rebound before a delivery's check, is refused: nothing is posted.
    refused = deliver(url, {"text": "x"}, backoff_s=0.01, guard=AddressGuard(resolver, refuses))
    assert (refused.ok, refused.attempts) == (False, 0)
    assert refused.error == f"refused: {NAME} resolves to an internal address"
    assert inside.requests == [] and len(outside.requests) == 3


def test_the_notifier_delivers_through_its_guard(
    db: Database, stored_script: Script, receivers: tuple[Receiver, Receiver]
) -> None:
    outside, inside = receivers
    for section in ("hook", "offer", "close"):
        add_clip(db, stored_script.id, section)
    with db.connect() as conn:
        url = f"http://{NAME}:{outside.port}/{SECRET}"
        workspace_rows.set_notification_url(conn, default_workspace_id(conn), url, "test")
    resolver = Rebinding(first=str(OUTSIDE))
    notifier = Notifier(
        db, StudioLinks("https://vsl.example.com"), guard=AddressGuard(resolver, refuses)
    )
    delivered = notifier.decisions_waiting(stored_script.id)
    assert delivered is not None and delivered.ok
    assert len(outside.requests) == 1 and inside.requests == [] and resolver.lookups == [NAME]


def _certificates(tmp: Path, name: str) -> tuple[Path, ssl.SSLContext]:
    """A CA (its PEM, for the client's SSL_CERT_FILE) and a server context whose certificate,
    signed by it, names `name` alone (not the address it listens on)."""
    now = datetime.datetime.now(datetime.UTC)

    def issue(
        subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None, signer: Any
    ) -> x509.Certificate:
        subject_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject_name)
            .issuer_name(issuer or subject_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
        )
        if issuer is None:
            builder = (
                builder.add_extension(
                    x509.BasicConstraints(ca=True, path_length=None), critical=True
                )
                .add_extension(
                    x509.KeyUsage(
                        digital_signature=True,
                        content_commitment=False,
                        key_encipherment=False,
                        data_encipherment=False,
                        key_agreement=False,
                        key_cert_sign=True,
                        crl_sign=True,
                        encipher_only=False,
                        decipher_only=False,
                    ),
                    critical=True,
                )
                .add_extension(
                    x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
                )
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False
            ).add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
                critical=False,
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = issue("vsl test CA", ca_key, None, ca_key)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue(name, leaf_key, ca.subject, ca_key)
    ca_pem = tmp / "ca.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = tmp / "leaf.pem"
    chain.write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM)
        + leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(chain)
    return ca_pem, server


def test_https_to_the_pinned_address_verifies_the_certificate_for_the_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TLS goes to the address with the URL's name as its SNI, and the certificate is checked
    against that name: one for the name passes, a URL whose name the certificate does not
    carry fails (verification is not skipped, nor made against the address)."""
    ca_pem, server_tls = _certificates(tmp_path, NAME)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_pem))  # httpx trusts it (its trust_env)
    with _receiver(str(OUTSIDE), free_port(), server_tls) as outside:
        url = f"https://{NAME}:{outside.port}/{SECRET}"
        resolver = Rebinding(first=str(OUTSIDE))
        delivered = deliver(url, {"text": "x"}, guard=AddressGuard(resolver, refuses))
        assert (delivered.ok, delivered.status) == (True, 200), delivered.error
        assert outside.requests == [(f"/{SECRET}", f"{NAME}:{outside.port}")]
        assert outside.server_names == [NAME]

        other = f"https://other.rebind.test:{outside.port}/{SECRET}"
        mismatch = deliver(
            other,
            {"text": "x"},
            attempts=1,
            guard=AddressGuard(Rebinding(first=str(OUTSIDE)), refuses),
        )
        assert not mismatch.ok and mismatch.error is not None
        assert "CERTIFICATE_VERIFY_FAILED" in mismatch.error and SECRET not in mismatch.error
        assert outside.server_names == [NAME, "other.rebind.test"]
        assert len(outside.requests) == 1
