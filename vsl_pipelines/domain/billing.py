"""What a prediction costs: its estimate before it runs, and what Replicate bills once it ended.

A registry entry names its billing basis (`pricing.basis`):

- `hardware`: a public model billed per second of active processing on its hardware
  (`metrics.predict_time` x the hardware's rate). Setup, queueing and idle time are free.
- `output`: an official model priced per output (flux-schnell: per image generated).
- `output_second`: priced per second of output media (its duration, known once probed).
- `run`: a flat price per prediction, the original system's format; Replicate bills no model
  this way, so its "actual" cost stays an estimate.

Failures (https://replicate.com/docs/topics/predictions/lifecycle, read 2026-12-06): a
prediction aborted before it started is not charged; one canceled after it started is charged
for the time it ran; a failed one is charged for its active time like any other
(`metrics.predict_time`, which Replicate reports for every terminated prediction). A model
priced per output or per output second bills what it produced: nothing, when it failed.
A prediction that was never created costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Replicate's public hardware prices, USD per second (https://replicate.com/pricing, read
# 2026-12-06). A registry entry may set its own `usdPerSecond` instead.
HARDWARE_USD_PER_SECOND: dict[str, Decimal] = {
    "cpu": Decimal("0.000100"),
    "gpu-t4": Decimal("0.000225"),
    "gpu-a40-small": Decimal("0.000575"),
    "gpu-a40-large": Decimal("0.000725"),
    "gpu-a40-large-2x": Decimal("0.001450"),
    "gpu-a40-large-4x": Decimal("0.002900"),
    "gpu-a40-large-8x": Decimal("0.005800"),
    "gpu-l40s": Decimal("0.000975"),
    "gpu-2x-l40s": Decimal("0.001950"),
    "gpu-4x-l40s": Decimal("0.003900"),
    "gpu-8x-l40s": Decimal("0.007800"),
    "gpu-a100-large": Decimal("0.001400"),
    "gpu-a100-large-2x": Decimal("0.002800"),
    "gpu-a100-large-4x": Decimal("0.005600"),
    "gpu-a100-large-8x": Decimal("0.011200"),
    "gpu-h100": Decimal("0.001525"),
    "gpu-h100-2x": Decimal("0.003050"),
    "gpu-h100-4x": Decimal("0.006100"),
    "gpu-h100-8x": Decimal("0.012200"),
}
Basis = Literal["hardware", "output", "output_second", "run"]
# The original system's `per` values, read as bases.
_LEGACY_PER: dict[str, Basis] = {"run": "run", "output": "output", "second": "output_second"}
_MICRO = Decimal("0.000001")
ENDED_WITHOUT_RUNNING = "aborted"  # Replicate's status for a prediction that never started


class CostSource(StrEnum):
    """Where a job's actual cost comes from."""

    BILLED = "billed"  # computed from what Replicate reported, the way it bills
    ESTIMATED = "estimated"  # Replicate's figures are missing (or the basis is `run`)


class Pricing(BaseModel):
    """How a model is billed. `usd`: per output, per output second or per run; `hardware`: a
    Replicate hardware SKU from the pricing page (its rate from `HARDWARE_USD_PER_SECOND`
    unless `usdPerSecond` is given)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, populate_by_name=True)

    basis: Basis = "run"
    usd: float | None = Field(default=None, ge=0)
    hardware: str | None = None
    usd_per_second: float | None = Field(default=None, alias="usdPerSecond", gt=0)

    @model_validator(mode="before")
    @classmethod
    def _original_format(cls, value: Any) -> Any:
        """The original system's formats: a number (USD per output), or
        `{"usd": .., "per": "run" | "output" | "second"}`."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"basis": "output", "usd": value}
        if isinstance(value, Mapping) and "per" in value:
            if "basis" in value:
                raise ValueError("give 'basis' or the original 'per', not both")
            per = value["per"]
            if per not in _LEGACY_PER:
                raise ValueError(f"'per' must be one of {sorted(_LEGACY_PER)}, got {per!r}")
            return {**{k: v for k, v in value.items() if k != "per"}, "basis": _LEGACY_PER[per]}
        return value

    @model_validator(mode="after")
    def _complete(self) -> Pricing:
        if self.basis == "hardware":
            if self.usd is not None:
                raise ValueError("a 'hardware' price has no 'usd': it is the hardware's rate")
            if self.hardware is None and self.usd_per_second is None:
                raise ValueError("a 'hardware' price needs 'hardware' (or 'usdPerSecond')")
            if self.usd_per_second is None and self.hardware not in HARDWARE_USD_PER_SECOND:
                raise ValueError(
                    f"unknown hardware {self.hardware!r}; known: "
                    f"{', '.join(sorted(HARDWARE_USD_PER_SECOND))} (or give 'usdPerSecond')"
                )
        else:
            if self.usd is None:
                raise ValueError(f"a {self.basis!r} price needs 'usd'")
            if self.hardware is not None or self.usd_per_second is not None:
                raise ValueError(f"a {self.basis!r} price has no 'hardware' or 'usdPerSecond'")
        return self

    def document(self) -> dict[str, Any]:
        """The rule as stored with each job (`jobs.pricing`)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    @property
    def rate_per_second(self) -> Decimal:
        """USD per second of active processing (a `hardware` price)."""
        if self.usd_per_second is not None:
            return Decimal(str(self.usd_per_second))
        return HARDWARE_USD_PER_SECOND[self.hardware or ""]

    @property
    def unit_usd(self) -> Decimal:
        return Decimal(str(self.usd or 0))

    def describe(self) -> str:
        """The rule in words, e.g. `$0.000975/s on gpu-l40s` or `$0.003 per output`."""
        if self.basis == "hardware":
            where = f" on {self.hardware}" if self.hardware else ""
            return f"${self.rate_per_second}/s{where}"
        unit = {"output": " per output", "output_second": " per output second", "run": " per run"}
        return f"${self.unit_usd}{unit[self.basis]}"


@dataclass(frozen=True)
class Ended:
    """What Replicate reported for a prediction that ended."""

    status: str  # succeeded, failed, canceled, aborted
    predict_time_s: float | None
    outputs: int
    output_seconds: float | None = None  # the output's duration, once probed


@dataclass(frozen=True)
class Cost:
    usd: Decimal
    source: CostSource


def usd_text(value: float | Decimal) -> str:
    """Dollars to the millionth, trailing zeros dropped (at least cents): `$0.00225`,
    `$0.05`, `$1.283875`."""
    digits = f"{float(value):.6f}".rstrip("0")
    whole, _, cents = digits.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def micro(usd: Decimal) -> Decimal:
    return usd.quantize(_MICRO, rounding=ROUND_HALF_UP)


def output_count(prediction: Mapping[str, Any]) -> int:
    """How many outputs a prediction produced: `metrics.image_count` where Replicate reports
    it (its per-image models), else the number of output URLs."""
    metrics = prediction.get("metrics")
    if isinstance(metrics, Mapping):
        count = metrics.get("image_count")
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            return count
    output = prediction.get("output")
    if isinstance(output, list):
        return len(output)
    return 0 if output is None else 1


def billed(pricing: Pricing, ended: Ended, estimate_usd: Decimal) -> Cost | None:
    """The actual cost of an ended prediction; None when it cannot be known yet (a
    per-output-second price before its output was probed)."""
    if ended.status == ENDED_WITHOUT_RUNNING:
        return Cost(Decimal(0), CostSource.BILLED)
    succeeded = ended.status == "succeeded"
    if pricing.basis == "hardware":
        if ended.predict_time_s is None:
            # Nothing ran (canceled while starting) unless it succeeded without its figures.
            if succeeded:
                return Cost(micro(estimate_usd), CostSource.ESTIMATED)
            return Cost(Decimal(0), CostSource.BILLED)
        seconds = Decimal(str(max(ended.predict_time_s, 0.0)))
        return Cost(micro(pricing.rate_per_second * seconds), CostSource.BILLED)
    if pricing.basis == "output":
        return Cost(
            micro(pricing.unit_usd * ended.outputs if succeeded else Decimal(0)), CostSource.BILLED
        )
    if pricing.basis == "output_second":
        if not succeeded:
            return Cost(Decimal(0), CostSource.BILLED)
        if ended.output_seconds is None:
            return None
        seconds = Decimal(str(ended.output_seconds))
        return Cost(micro(pricing.unit_usd * seconds), CostSource.BILLED)
    return Cost(micro(pricing.unit_usd if succeeded else Decimal(0)), CostSource.ESTIMATED)
