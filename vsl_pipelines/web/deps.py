"""What `/api` and `/review` handlers depend on: the service's configuration and the access rule.

Without `VSL_API_KEY` only loopback clients are served; with it, `Authorization: Bearer KEY`,
or for the review page (what browsers can send) HTTP Basic with the key as password.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from pydantic import SecretStr

from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.storage.base import MediaStore

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
# The `Host` names served when no others are configured (`Settings.allowed_host_names`).
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
BEARER_CHALLENGE = "Bearer"
BASIC_CHALLENGE = 'Basic realm="VSL review"'


@dataclass(frozen=True)
class ApiConfig:
    """What the API and the review page read and write; `api_key` is the access key, if any;
    `allowed_hosts` the `Host` names (without port) they answer to."""

    database_url: str
    media_store: MediaStore
    registry: Registry
    api_key: SecretStr | None = None
    allowed_hosts: frozenset[str] = LOOPBACK_NAMES


def get_config(request: Request) -> ApiConfig:
    """The `ApiConfig` that `create_app` keeps in the app's state."""
    config: ApiConfig = request.app.state.api_config
    return config


ConfigDep = Annotated[ApiConfig, Depends(get_config)]


class KeyRequired:
    """The access rule as a dependency: 403 for a remote client without a configured key, 401
    (with a challenge) when the key is configured and the request does not carry it."""

    def __init__(self, service: str, *, accept_basic: bool) -> None:
        self.service = service
        self.accept_basic = accept_basic
        self.challenge = BASIC_CHALLENGE if accept_basic else BEARER_CHALLENGE

    def __call__(self, request: Request, config: ConfigDep) -> None:
        if config.api_key is None:
            host = request.client.host if request.client else ""
            if host not in LOOPBACK_HOSTS:
                raise HTTPException(
                    403, f"{self.service} serves only local clients unless VSL_API_KEY is set"
                )
            return
        authorization = request.headers.get("authorization", "")
        if not self.carries_key(authorization, config.api_key.get_secret_value().encode()):
            raise HTTPException(
                401, "missing or wrong API key", headers={"WWW-Authenticate": self.challenge}
            )

    def carries_key(self, authorization: str, expected: bytes) -> bool:
        """Whether the `Authorization` header holds `expected` (compared in constant time)."""
        scheme, _, credentials = authorization.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            return hmac.compare_digest(credentials.strip().encode(), expected)
        if scheme == "basic" and self.accept_basic:
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True)
            except (binascii.Error, ValueError):
                return False
            _user, colon, password = decoded.partition(b":")
            return bool(colon) and hmac.compare_digest(password, expected)
        return False


require_api_key = KeyRequired("the API", accept_basic=False)
require_reviewer_key = KeyRequired("the review page", accept_basic=True)
