"""Which hook wins: per cut (a compilation and its variant key), the viewers, play rate,
25/50/75/100% retention and CTA rate, and the probability that each cut is the best on one of them.

Each rate is a Beta-Binomial: with a uniform prior, `k` successes out of `n` give the posterior
Beta(1 + k, 1 + n - k). The probability that a cut is best is the share of Monte Carlo draws
(one draw from every cut's posterior per round, a seeded RNG: the same counts give the same
answer) in which its draw is the highest. A leader is named only when every cut has at least
`min_viewers` viewers and one cut's probability reaches `LEADER_PROBABILITY`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Metric = Literal["play", "q25", "q50", "q75", "q100", "cta"]
METRICS: tuple[Metric, ...] = ("play", "q25", "q50", "q75", "q100", "cta")
# What a watch page reports (`POST /api/events`; the watch_events table checks the same list).
EventKind = Literal["view", "play", "q25", "q50", "q75", "q100", "unmute", "cta"]
DEFAULT_METRIC: Metric = "cta"  # the business outcome of a sales letter: the click
LEADER_PROBABILITY = 0.95
DEFAULT_DRAWS = 4000
DEFAULT_SEED = 27


@dataclass(frozen=True)
class ArmCounts:
    """How many distinct viewers of one cut sent each event kind."""

    cut: str  # the cut's public id
    compilation_id: int
    variant: str
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str) -> int:
        return int(self.counts.get(kind, 0))


@dataclass(frozen=True)
class ArmFigures:
    cut: str
    compilation_id: int
    variant: str
    viewers: int
    plays: int
    unmutes: int
    ctas: int
    # metric -> (successes, trials, rate): play and cta over viewers, quartiles over plays.
    rates: dict[str, tuple[int, int, float | None]]
    # The probability that this cut's rate of the report's metric is the highest of all cuts.
    p_best: float


@dataclass(frozen=True)
class VariantReport:
    metric: Metric
    min_viewers: int
    arms: list[ArmFigures]
    leader: str | None  # the leading cut's public id, when one is named
    reason: str  # why a leader is or is not named


def trials_and_successes(arm: ArmCounts, metric: Metric) -> tuple[int, int]:
    """(successes, trials) of `metric`. A success is never counted beyond its trials (an
    event whose earlier one was refused or lost is clamped, never a rate above 1)."""
    viewers = arm.count("view")
    trials = viewers if metric in ("play", "cta") else min(arm.count("play"), viewers)
    return min(arm.count(metric), trials), trials


def probability_best(
    pairs: Sequence[tuple[int, int]], *, draws: int = DEFAULT_DRAWS, seed: int = DEFAULT_SEED
) -> list[float]:
    """For each (successes, trials), the share of posterior draws in which it is highest."""
    if not pairs:
        return []
    if len(pairs) == 1:
        return [1.0]
    rng = random.Random(seed)
    wins = [0] * len(pairs)
    shapes = [(1 + k, 1 + n - k) for k, n in pairs]
    for _ in range(draws):
        values = [rng.betavariate(a, b) for a, b in shapes]
        wins[max(range(len(values)), key=values.__getitem__)] += 1
    return [w / draws for w in wins]


def variant_report(
    arms: Sequence[ArmCounts],
    *,
    min_viewers: int,
    metric: Metric = DEFAULT_METRIC,
    draws: int = DEFAULT_DRAWS,
    seed: int = DEFAULT_SEED,
) -> VariantReport:
    """The figures of every cut, P(best) on `metric` and the leader on it. One metric a report:
    the draws are its cost (some 4,000 per cut), and the API asks for another by name."""
    p_best = probability_best(
        [trials_and_successes(a, metric) for a in arms], draws=draws, seed=seed
    )
    figures = []
    for number, arm in enumerate(arms):
        rates: dict[str, tuple[int, int, float | None]] = {}
        for m in METRICS:
            k, n = trials_and_successes(arm, m)
            rates[m] = (k, n, round(k / n, 4) if n else None)
        figures.append(
            ArmFigures(
                cut=arm.cut,
                compilation_id=arm.compilation_id,
                variant=arm.variant,
                viewers=arm.count("view"),
                plays=arm.count("play"),
                unmutes=arm.count("unmute"),
                ctas=arm.count("cta"),
                rates=rates,
                p_best=round(p_best[number], 4),
            )
        )
    leader, reason = _leader(figures, metric, min_viewers)
    return VariantReport(metric, min_viewers, figures, leader, reason)


def _leader(figures: list[ArmFigures], metric: Metric, min_viewers: int) -> tuple[str | None, str]:
    if len(figures) < 2:
        return None, "one cut: nothing to compare until the script has variants"
    short = [f for f in figures if f.viewers < min_viewers]
    if short:
        return None, (
            f"{len(short)} cut(s) under the minimum sample of {min_viewers} viewers"
            f" (fewest: {min(f.viewers for f in short)})"
        )
    best = max(figures, key=lambda f: f.p_best)
    if best.p_best < LEADER_PROBABILITY:
        return None, (
            f"no cut is best on {metric} with probability {LEADER_PROBABILITY:g} or more"
            f" (highest {best.p_best:.2f})"
        )
    return best.cut, f"best on {metric} with probability {best.p_best:.3f}"
