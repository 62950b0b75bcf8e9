"""Pure formulas of DESIGN §3: normalisation, regret, advantage, benchmark and selection scores.

Nothing here opens a file or calls git; every function works on plain records.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

SUCCESS_NORM = 0.9


class Scored(Protocol):
    """What the formulas need of a judgment."""

    @property
    def goal_id(self) -> str: ...
    @property
    def reward(self) -> float: ...
    @property
    def reward_norm(self) -> float: ...
    @property
    def regret(self) -> float: ...
    @property
    def failure(self) -> str | None: ...


def reward_norm(reward: float, *, min_reward: float, optimal_reward: float) -> float:
    """clip((reward - min) / (optimal - min), 0, 1)."""
    value = (reward - min_reward) / (optimal_reward - min_reward)
    return min(1.0, max(0.0, value))


def regret(reward: float, *, optimal_reward: float) -> float:
    """Raw regret: how far the reward fell short of the goal's expected optimum."""
    return optimal_reward - reward


def goal_baselines(judgments: Sequence[Scored], *, window: int) -> dict[str, float]:
    """Per goal, the mean reward_norm of its last `window` judgments (the advantage baseline)."""
    per_goal: dict[str, list[float]] = defaultdict(list)
    for j in judgments:
        per_goal[j.goal_id].append(j.reward_norm)
    return {goal: _mean(values[-window:]) for goal, values in per_goal.items()}


@dataclass(frozen=True)
class Weights:
    mean: float = 0.5
    advantage: float = 0.3
    delta: float = 0.2
    formula: str = "weighted"  # or "v06": mean_reward + 0.5 * avg_advantage


def selection_score(
    *, mean_reward: float, avg_advantage: float, delta_score: float, weights: Weights
) -> float:
    if weights.formula == "v06":
        return mean_reward + 0.5 * avg_advantage
    return (
        weights.mean * mean_reward + weights.advantage * avg_advantage + weights.delta * delta_score
    )


@dataclass(frozen=True)
class GoalScore:
    uses: int
    fails: int
    mean_reward_norm: float
    sum_regret: float
    avg_regret: float


@dataclass(frozen=True)
class VariantScore:
    uses: int
    fails: int
    mean_reward: float
    avg_advantage: float
    benchmark_score: float
    delta_score: float
    selection_score: float
    sum_regret: float
    avg_regret: float
    goals: Mapping[str, GoalScore] = field(default_factory=dict)

    @property
    def failure_rate(self) -> float:
        return self.fails / self.uses if self.uses else 1.0


def benchmark_score(goal_means: Mapping[str, float], goal_weights: Mapping[str, float]) -> float:
    """Goal-weighted mean of per-goal mean reward_norm; a goal with no judgment counts 0."""
    total = sum(goal_weights.values())
    if not total:
        return 0.0
    return sum(w * goal_means.get(g, 0.0) for g, w in goal_weights.items()) / total


@dataclass
class GoalTally:
    """Running sums of one variant's judgments on one goal: enough for every score."""

    uses: int = 0
    fails: int = 0
    sum_norm: float = 0.0
    sum_regret: float = 0.0

    def add(self, j: Scored) -> None:
        self.uses += 1
        self.fails += 1 if j.failure else 0
        self.sum_norm += j.reward_norm
        self.sum_regret += j.regret


def tally(judgments: Sequence[Scored]) -> dict[str, GoalTally]:
    tallies: dict[str, GoalTally] = defaultdict(GoalTally)
    for j in judgments:
        tallies[j.goal_id].add(j)
    return dict(tallies)


def score_tallies(
    tallies: Mapping[str, GoalTally],
    *,
    baselines: Mapping[str, float],
    goal_weights: Mapping[str, float],
    parent_benchmark: float | None,
    weights: Weights,
) -> VariantScore:
    """All of a variant's numbers from its per-goal tallies. No parent: delta 0."""
    uses = sum(t.uses for t in tallies.values())
    goals = {
        goal: GoalScore(
            uses=t.uses,
            fails=t.fails,
            mean_reward_norm=t.sum_norm / t.uses if t.uses else 0.0,
            sum_regret=t.sum_regret,
            avg_regret=t.sum_regret / t.uses if t.uses else 0.0,
        )
        for goal, t in sorted(tallies.items())
    }
    # S reads the scored goals only (held-out goals are not in goal_weights)
    scored = {g: t for g, t in tallies.items() if not goal_weights or g in goal_weights}
    scored_uses = sum(t.uses for t in scored.values())
    total_norm = sum(t.sum_norm for t in scored.values())
    mean_reward = total_norm / scored_uses if scored_uses else 0.0
    # mean over judgments of (reward_norm - baseline of its goal)
    expected = sum(t.uses * baselines.get(goal, 0.0) for goal, t in scored.items())
    avg_advantage = (total_norm - expected) / scored_uses if scored_uses else 0.0
    bench = benchmark_score({g: s.mean_reward_norm for g, s in goals.items()}, goal_weights)
    delta = bench - parent_benchmark if parent_benchmark is not None else 0.0
    sum_regret = sum(t.sum_regret for t in tallies.values())
    return VariantScore(
        uses=uses,
        fails=sum(t.fails for t in tallies.values()),
        mean_reward=mean_reward,
        avg_advantage=avg_advantage,
        benchmark_score=bench,
        delta_score=delta,
        selection_score=selection_score(
            mean_reward=mean_reward, avg_advantage=avg_advantage, delta_score=delta, weights=weights
        ),
        sum_regret=sum_regret,
        avg_regret=sum_regret / uses if uses else 0.0,
        goals=goals,
    )


def score_variant(
    judgments: Sequence[Scored],
    *,
    baselines: Mapping[str, float],
    goal_weights: Mapping[str, float],
    parent_benchmark: float | None,
    weights: Weights,
) -> VariantScore:
    """All of a variant's numbers from its judgments. A variant with no parent has delta 0."""
    return score_tallies(
        tally(judgments),
        baselines=baselines,
        goal_weights=goal_weights,
        parent_benchmark=parent_benchmark,
        weights=weights,
    )


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def parent_weight(
    score: float, *, children: int, k: float, s_mid: float, scale: float = 1.0
) -> float:
    """DGM parent preference: sigmoid(k·(S − S_mid)/scale) / (1 + children). With `scale`
    the median absolute deviation of the pool's S (as ShinkaEvolve does), k is free of the
    spread of S, which differs by a few hundredths between good and poor variants."""
    return sigmoid(k * (score - s_mid) / scale) / (1 + children)


MIN_SCALE = 1e-6  # the MAD of a pool whose scores are all equal


def spread(values: Iterable[float], *, mid: float) -> float:
    """The median absolute deviation of `values` from `mid`, at least MIN_SCALE."""
    return max(MIN_SCALE, median(abs(v - mid) for v in values))


def median(values: Iterable[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
