"""Configuration of the Replicate-compatible sandbox: where it listens, what it serves, its knobs.

The knobs (latency, failures, throttling, webhook misbehaviour, output expiry) change at runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from vsl_pipelines.domain.registry import Registry
from vsl_pipelines.settings import DEFAULT_SANDBOX_TOKEN


class SandboxKnobs(BaseModel):
    """Behaviour that tests and operators tune while the sandbox runs (`/sandbox/knobs`)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    latency_s: float = Field(default=0.5, ge=0, le=600, description="processing time")
    failure_rate: float = Field(default=0.0, ge=0, le=1, description="chance a prediction fails")
    fail_next: int = Field(default=0, ge=0, description="the next N predictions fail")
    throttle_next: int = Field(default=0, ge=0, description="the next N creates get 429")
    error_next: int = Field(default=0, ge=0, description="the next N creates get 500")
    lose_response_next: int = Field(
        default=0, ge=0, description="the next N creates succeed but answer 500 (a lost response)"
    )
    duplicate_webhooks: int = Field(
        default=0, ge=0, le=20, description="extra copies of each completed webhook"
    )
    out_of_order: bool = Field(
        default=False, description="send a stale 'processing' webhook after the completed one"
    )
    output_ttl_s: float = Field(default=3600.0, gt=0, description="seconds before outputs expire")
    random_seed: int | None = Field(default=None, description="seed of the failure_rate draws")
    webhook_attempts: int = Field(default=8, ge=1, le=50, description="tries of a final webhook")
    webhook_base_delay_s: float = Field(default=0.5, ge=0, le=60)
    webhook_max_delay_s: float = Field(default=30.0, ge=0, le=600)
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=120)

    def updated(self, patch: dict[str, Any]) -> SandboxKnobs:
        """A validated copy with `patch` applied; raises ValidationError naming the bad field."""
        return SandboxKnobs.model_validate({**self.model_dump(), **patch})

    def apply(self, patch: dict[str, Any]) -> None:
        """Validate the whole patch first, then change this object in place."""
        new = self.updated(patch)
        for name in patch:
            object.__setattr__(self, name, getattr(new, name))


KNOB_FIELDS = tuple(SandboxKnobs.model_fields)


class SandboxConfig(SandboxKnobs):
    """Server settings plus the initial knob values."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=0, le=65535, description="0 picks a free port")
    data_dir: Path = Path("data/sandbox")
    public_url: str | None = Field(
        default=None, description="base URL of file links and prediction urls; default host:port"
    )
    webhook_secret: str | None = Field(default=None, description="whsec_...; else generated once")
    api_token: SecretStr = Field(
        default=SecretStr(DEFAULT_SANDBOX_TOKEN),
        description="the only token `/v1` routes answer (Authorization: Bearer or Token)",
    )
    registry: Registry | None = Field(default=None, description="default: the project registry")
    workers: int = Field(default=4, ge=1, le=64)
    webhook_targets: tuple[str, ...] = Field(
        default=(),
        description=(
            "base URLs (scheme://host:port) standing in for a load balancer: each delivery "
            "attempt goes to the next one in turn, the webhook URL's path and query kept"
        ),
    )
    page_size: int = Field(default=100, ge=1, le=1000)
    max_wait_s: float = Field(default=60.0, ge=0, description="cap of `Prefer: wait`")
    log_level: str = "INFO"

    def knobs(self) -> SandboxKnobs:
        return SandboxKnobs.model_validate({name: getattr(self, name) for name in KNOB_FIELDS})


def describe_validation_error(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()
    )
