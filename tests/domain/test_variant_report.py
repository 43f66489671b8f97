"""Which hook wins, on seeded event logs with a known answer: a clear winner is named with
P(best) > 0.95, equal cuts stay near 0.5 with no leader, and no leader below the minimum sample."""

import random

import pytest

from vsl_pipelines.domain.variant_report import (
    ArmCounts,
    probability_best,
    trials_and_successes,
    variant_report,
)


def seeded_log(cut: str, viewers: int, rates: dict[str, float], seed: int) -> ArmCounts:
    """The counts of a simulated event log: each viewer sends `view`, then each later kind with
    its probability given the one before (play of viewers, quartiles of the previous step)."""
    rng = random.Random(seed)
    counts = dict.fromkeys(("view", "play", "q25", "q50", "q75", "q100", "cta"), 0)
    for _ in range(viewers):
        counts["view"] += 1
        if rng.random() >= rates["play"]:
            continue
        counts["play"] += 1
        for quartile in ("q25", "q50", "q75", "q100"):
            if rng.random() >= rates["keep"]:
                break
            counts[quartile] += 1
        if rng.random() < rates["cta"]:
            counts["cta"] += 1
    return ArmCounts(cut, 1, cut, counts)


def test_a_clear_winner_is_named() -> None:
    a = seeded_log("a", 1000, {"play": 0.9, "keep": 0.9, "cta": 0.15}, seed=1)
    b = seeded_log("b", 1000, {"play": 0.9, "keep": 0.7, "cta": 0.05}, seed=2)
    report = variant_report([a, b], min_viewers=200)
    assert report.leader == "a", report.reason
    first, second = report.arms
    assert first.p_best > 0.95 and second.p_best < 0.05
    kept = variant_report([a, b], min_viewers=200, metric="q100")
    assert kept.leader == "a" and kept.arms[0].p_best > 0.95  # kept longer as well
    assert first.viewers == 1000 and 0.1 < first.rates["cta"][2] < 0.2  # type: ignore[operator]


def test_equal_cuts_are_near_even_and_no_leader() -> None:
    rates = {"play": 0.8, "keep": 0.8, "cta": 0.1}
    same = {"view": 1000, "play": 800, "q25": 640, "q50": 512, "q75": 410, "q100": 328, "cta": 100}
    report = variant_report(
        [ArmCounts("a", 1, "a", same), ArmCounts("b", 1, "b", dict(same))], min_viewers=200
    )
    assert report.leader is None
    for arm in report.arms:
        assert abs(arm.p_best - 0.5) < 0.05
    # The same from two seeded logs of the same rates: still no leader.
    logs = [seeded_log("a", 1000, rates, seed=3), seeded_log("b", 1000, rates, seed=4)]
    assert variant_report(logs, min_viewers=200).leader is None


def test_no_leader_under_the_minimum_sample() -> None:
    a = ArmCounts("a", 1, "a", {"view": 60, "play": 60, "cta": 30})
    b = ArmCounts("b", 1, "b", {"view": 60, "play": 60, "cta": 1})
    report = variant_report([a, b], min_viewers=100)
    assert report.arms[0].p_best > 0.95  # the evidence is there...
    assert report.leader is None and "minimum sample of 100" in report.reason  # ...not named
    assert variant_report([a, b], min_viewers=50).leader == "a"


def test_one_cut_names_no_leader_and_empty_counts_have_no_rates() -> None:
    report = variant_report([ArmCounts("a", 1, "main", {})], min_viewers=1)
    assert report.leader is None and report.arms[0].p_best == 1.0
    assert report.arms[0].rates["play"] == (0, 0, None)


def test_successes_never_exceed_their_trials() -> None:
    forged = ArmCounts("a", 1, "a", {"view": 3, "play": 5, "q25": 9, "cta": 7})
    assert trials_and_successes(forged, "q25") == (3, 3)
    assert trials_and_successes(forged, "cta") == (3, 3)


def test_the_draws_are_seeded() -> None:
    pairs = [(10, 100), (12, 100), (9, 100)]
    assert probability_best(pairs, seed=5) == probability_best(pairs, seed=5)
    assert sum(probability_best(pairs)) == pytest.approx(1.0)
