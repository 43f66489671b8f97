"""Billing rules: the registry's `pricing` (basis, hardware, legacy `per`) and the actual cost
of an ended prediction computed from what Replicate reports."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from vsl_pipelines.domain.billing import (
    HARDWARE_USD_PER_SECOND,
    Cost,
    CostSource,
    Ended,
    Pricing,
    billed,
    output_count,
)

L40S = Pricing(basis="hardware", hardware="gpu-l40s")
PER_IMAGE = Pricing(basis="output", usd=0.003)
PER_SECOND_OUT = Pricing(basis="output_second", usd=0.05)
ESTIMATE = Decimal("0.0049")


def test_the_hardware_table_holds_the_published_rates() -> None:
    assert HARDWARE_USD_PER_SECOND["cpu"] == Decimal("0.0001")
    assert HARDWARE_USD_PER_SECOND["gpu-t4"] == Decimal("0.000225")
    assert HARDWARE_USD_PER_SECOND["gpu-l40s"] == Decimal("0.000975")
    assert HARDWARE_USD_PER_SECOND["gpu-a100-large"] == Decimal("0.0014")
    assert HARDWARE_USD_PER_SECOND["gpu-h100"] == Decimal("0.001525")


@pytest.mark.parametrize(
    ("status", "predict_time", "usd", "source"),
    [
        ("succeeded", 4.2, Decimal("0.004095"), CostSource.BILLED),  # 4.2 s x $0.000975
        ("failed", 1.0, Decimal("0.000975"), CostSource.BILLED),  # it ran a second, then failed
        ("canceled", 2.0, Decimal("0.00195"), CostSource.BILLED),  # canceled after 2 s running
        ("canceled", None, Decimal(0), CostSource.BILLED),  # canceled before it started
        ("aborted", None, Decimal(0), CostSource.BILLED),  # never started: not charged
        ("succeeded", None, ESTIMATE, CostSource.ESTIMATED),  # no figures: the estimate stands
    ],
)
def test_hardware_bills_active_seconds(
    status: str, predict_time: float | None, usd: Decimal, source: CostSource
) -> None:
    assert billed(L40S, Ended(status, predict_time, 1), ESTIMATE) == Cost(usd, source)


def test_per_output_bills_what_was_made_and_nothing_for_a_failure() -> None:
    assert billed(PER_IMAGE, Ended("succeeded", 0.8, 3), ESTIMATE) == Cost(
        Decimal("0.009"), CostSource.BILLED
    )
    assert billed(PER_IMAGE, Ended("failed", 0.8, 0), ESTIMATE) == Cost(
        Decimal(0), CostSource.BILLED
    )


def test_per_output_second_waits_for_the_probed_duration() -> None:
    assert billed(PER_SECOND_OUT, Ended("succeeded", 30.0, 1), ESTIMATE) is None
    assert billed(PER_SECOND_OUT, Ended("succeeded", 30.0, 1, 5.04), ESTIMATE) == Cost(
        Decimal("0.252"), CostSource.BILLED
    )
    assert billed(PER_SECOND_OUT, Ended("failed", 3.0, 0), ESTIMATE).usd == 0  # type: ignore[union-attr]


def test_a_flat_run_price_stays_an_estimate() -> None:
    run = Pricing.model_validate({"usd": 0.12, "per": "run"})
    assert run.basis == "run"
    assert billed(run, Ended("succeeded", 80.0, 1), Decimal("0.12")) == Cost(
        Decimal("0.12"), CostSource.ESTIMATED
    )


def test_output_count_prefers_replicates_image_count() -> None:
    assert output_count({"metrics": {"image_count": 2}, "output": ["a", "b", "c"]}) == 2
    assert output_count({"output": ["a", "b"]}) == 2
    assert output_count({"output": "https://x/y.mp4"}) == 1
    assert output_count({"output": None}) == 0


def test_the_original_per_values_are_read_as_bases() -> None:
    assert Pricing.model_validate({"usd": 0.003, "per": "output"}).basis == "output"
    assert Pricing.model_validate({"usd": 0.002, "per": "second"}).basis == "output_second"
    assert Pricing.model_validate({"usd": 0.002, "per": "run"}).document() == {
        "basis": "run",
        "usd": 0.002,
    }


def test_a_rate_may_be_given_for_hardware_not_in_the_table() -> None:
    custom = Pricing.model_validate({"basis": "hardware", "usdPerSecond": 0.002})
    assert custom.rate_per_second == Decimal("0.002")
    assert billed(custom, Ended("succeeded", 10.0, 1), ESTIMATE) == Cost(
        Decimal("0.02"), CostSource.BILLED
    )


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"basis": "hardware"}, "needs 'hardware'"),
        ({"basis": "hardware", "hardware": "gpu-x9000"}, "unknown hardware 'gpu-x9000'"),
        ({"basis": "hardware", "hardware": "gpu-t4", "usd": 1}, "has no 'usd'"),
        ({"basis": "output"}, "needs 'usd'"),
        ({"basis": "output", "usd": 1, "hardware": "gpu-t4"}, "has no 'hardware'"),
        ({"basis": "per-token", "usd": 1}, "basis"),
        ({"usd": 1, "per": "token"}, "'per' must be one of"),
        ({"usd": 1, "per": "run", "basis": "run"}, "not both"),
        ({"basis": "output", "usd": -0.1}, "greater than or equal to 0"),
        ({"basis": "hardware", "usdPerSecond": 0}, "greater than 0"),
    ],
)
def test_a_bad_rule_is_refused_naming_what_is_wrong(document: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Pricing.model_validate(document)
