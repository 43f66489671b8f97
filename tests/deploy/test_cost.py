"""`make cost` (deploy/aws/cost.py): every profile's estimate from its template and the cited
price table, idle and loaded; the small profile within the original's $50 a month."""

from __future__ import annotations

import json

from deploy.aws.cost import LOAD, PRICES, PROFILES, estimate, main, synthesize
from deploy.aws.stages import STAGES


def test_every_price_names_its_source_and_date() -> None:
    prices = json.loads(PRICES.read_text())
    assert prices["region"] == "us-east-1" and prices["collected"]
    for name, source in prices["sources"].items():
        assert source["url"].startswith("https://") and source["as_of"], name


def test_the_small_profile_fits_50_usd_at_1000_generations_a_day() -> None:
    prices = json.loads(PRICES.read_text())
    template = synthesize(PROFILES["small"])
    loaded = estimate(template, prices, loaded=True)
    idle = estimate(template, prices, loaded=False)
    assert LOAD.generations_per_day == 1000
    assert idle.total <= loaded.total <= 50, loaded.lines
    # It is small for what it lacks, not for what it forgot: no NAT, no load balancer.
    assert not [k for k in loaded.lines if k.startswith(("NAT", "ALB", "WAF"))]
    assert any(k.startswith("RDS") for k in loaded.lines)


def test_make_cost_ends_with_one_json_line(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main([]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out[-1])
    assert set(summary) == set(PROFILES) == set(STAGES)
    for profile, figures in summary.items():
        assert set(figures) == {"idle_usd_month", "loaded_usd_month"}
        assert 0 < figures["idle_usd_month"] <= figures["loaded_usd_month"], profile
    assert summary["small"]["loaded_usd_month"] <= 50
    assert summary["small"]["loaded_usd_month"] < summary["dev"]["idle_usd_month"]
    assert "prices.json" in "\n".join(out)
