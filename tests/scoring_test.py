from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from bot.scoring import (
    Weights,
    benchmark_score,
    goal_baselines,
    median,
    parent_weight,
    regret,
    reward_norm,
    score_variant,
    selection_score,
    sigmoid,
)


@dataclass(frozen=True)
class J:
    goal_id: str
    reward: float
    reward_norm: float
    regret: float
    failure: str | None = None


def test_reward_norm_maps_the_goal_range_to_unit_interval_and_clips() -> None:
    assert reward_norm(250, min_reward=0, optimal_reward=500) == 0.5
    assert reward_norm(-300, min_reward=-500, optimal_reward=-100) == 0.5
    assert reward_norm(600, min_reward=0, optimal_reward=500) == 1.0
    assert reward_norm(-1, min_reward=0, optimal_reward=500) == 0.0


def test_regret_is_optimal_minus_reward_in_raw_units() -> None:
    assert regret(-150, optimal_reward=-100) == 50
    assert regret(500, optimal_reward=500) == 0
    assert regret(-90, optimal_reward=-100) == -10  # better than the expected optimum


def test_baselines_use_only_the_last_window_judgments_of_each_goal() -> None:
    js = [J("a", 0, 0.0, 0), J("a", 0, 1.0, 0), J("a", 0, 0.5, 0), J("b", 0, 0.2, 0)]
    assert goal_baselines(js, window=2) == {"a": 0.75, "b": 0.2}
    assert goal_baselines(js, window=10) == {"a": 0.5, "b": 0.2}


def test_selection_score_weighted_and_v06() -> None:
    w = Weights()
    assert selection_score(
        mean_reward=0.8, avg_advantage=0.1, delta_score=0.05, weights=w
    ) == pytest.approx(0.5 * 0.8 + 0.3 * 0.1 + 0.2 * 0.05)
    v06 = Weights(formula="v06")
    assert selection_score(
        mean_reward=0.8, avg_advantage=0.1, delta_score=0.05, weights=v06
    ) == pytest.approx(0.8 + 0.5 * 0.1)


def test_benchmark_score_is_goal_weighted_and_counts_missing_goals_as_zero() -> None:
    assert benchmark_score({"a": 1.0, "b": 0.5}, {"a": 1, "b": 1}) == 0.75
    assert benchmark_score({"a": 1.0, "b": 0.5}, {"a": 3, "b": 1}) == pytest.approx(0.875)
    assert benchmark_score({"a": 1.0}, {"a": 1, "b": 1}) == 0.5


def test_score_variant_from_literal_judgments() -> None:
    js = [
        J("a", 400, 0.8, 100),
        J("a", 500, 1.0, 0),
        J("b", -200, 0.0, 100, failure="crash"),
        J("b", -150, 0.5, 50),
    ]
    s = score_variant(
        js,
        baselines={"a": 0.5, "b": 0.25},
        goal_weights={"a": 1, "b": 1},
        parent_benchmark=0.5,
        weights=Weights(),
    )
    assert s.uses == 4 and s.fails == 1
    assert s.mean_reward == pytest.approx(0.575)
    assert s.avg_advantage == pytest.approx((0.3 + 0.5 - 0.25 + 0.25) / 4)
    assert s.benchmark_score == pytest.approx((0.9 + 0.25) / 2)
    assert s.delta_score == pytest.approx(0.575 - 0.5)
    assert s.selection_score == pytest.approx(0.5 * 0.575 + 0.3 * 0.2 + 0.2 * 0.075)
    assert s.sum_regret == 250 and s.avg_regret == 62.5
    assert s.goals["a"].mean_reward_norm == pytest.approx(0.9)
    assert s.goals["b"].fails == 1
    assert s.failure_rate == 0.25


def test_a_variant_without_parent_has_zero_delta() -> None:
    s = score_variant(
        [J("a", 1, 1.0, 0)],
        baselines={},
        goal_weights={"a": 1},
        parent_benchmark=None,
        weights=Weights(),
    )
    assert s.delta_score == 0.0


def test_parent_weight_prefers_high_scores_and_yields_to_few_children() -> None:
    high = parent_weight(0.8, children=0, k=10, s_mid=0.5)
    low = parent_weight(0.2, children=0, k=10, s_mid=0.5)
    crowded = parent_weight(0.8, children=3, k=10, s_mid=0.5)
    assert high == pytest.approx(sigmoid(3.0))
    assert high > low
    assert crowded == pytest.approx(high / 4)


def test_sigmoid_is_stable_at_extremes() -> None:
    assert sigmoid(1000) == 1.0
    assert sigmoid(-1000) == 0.0
    assert math.isclose(sigmoid(0), 0.5)


def test_median() -> None:
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 2, 3]) == 2.5
    assert median([]) == 0.0
