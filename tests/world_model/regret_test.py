"""Regret per goal, aggregated from literal judgments, and its plot."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from bot.plots import nice_ticks, regret_figure
from bot.records import Judgment
from bot.stats import build_regret


def judgment(goal: str, generation: int, seed: int, regret: float) -> Judgment:
    return Judgment(
        ts="2026-01-01T00:00:00+00:00",
        run_id="r",
        generation=generation,
        goal_id=goal,
        strategy="s",
        variant=f"c-{generation:07d}",
        parent_id=None,
        mutation_id=f"c-{generation:07d}",
        operator="seed",
        commit="0" * 40,
        episode=seed,
        seed=seed,
        reward=500.0 - regret,
        reward_norm=1 - regret / 500.0,
        expected_optimal=500.0,
        regret=regret,
        advantage=0.0,
        success=regret < 25,
        failure=None,
        steps=10,
        duration_s=0.01,
        benchmark_score=0.5,
    )


def test_regret_per_goal_from_literal_lists() -> None:
    rows = [
        judgment("cartpole", 0, 1, 10.0),
        judgment("cartpole", 0, 2, 30.0),
        judgment("cartpole", 1, 1, 0.0),
        judgment("cartpole", 1, 2, 20.0),
        judgment("pendulum", 0, 1, 400.0),
        judgment("pendulum", 1, 1, 100.0),
    ]
    regret = build_regret(rows, generation=1)
    cart, pend = regret.goals["cartpole"], regret.goals["pendulum"]
    assert cart.sum_regret == 60.0 and cart.avg_regret == 15.0 and cart.judgments == 4
    assert cart.distribution == {"min": 0.0, "p25": 7.5, "median": 15.0, "p75": 22.5, "max": 30.0}
    assert cart.trend == {"0": 20.0, "1": 10.0}
    assert pend.sum_regret == 500.0 and pend.avg_regret == 250.0
    assert pend.trend == {"0": 400.0, "1": 100.0}


def test_the_regret_plot_has_a_distribution_and_a_trend_per_goal() -> None:
    rows = [judgment(g, n % 3, n, float(n * 7 % 50)) for g in ("a", "b") for n in range(12)]
    svg = regret_figure(build_regret(rows, generation=2))
    root = ET.fromstring(svg)  # well-formed SVG
    titles = [g.get("data-title") for g in root.iter("{http://www.w3.org/2000/svg}g")]
    assert titles == [
        "a: regret distribution",
        "a: avg regret by generation",
        "b: regret distribution",
        "b: avg regret by generation",
    ]
    assert svg == regret_figure(build_regret(rows, generation=2))  # byte-for-byte stable


def test_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(0, 10) == [0, 2, 4, 6, 8, 10]
    ticks = nice_ticks(-3.2, 41.0)
    assert ticks[0] <= -3.2 and ticks[-1] >= 41.0 and len(ticks) <= 8
