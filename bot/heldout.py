"""Held-out scores: each niche's elite is evaluated, when it becomes the elite, on episode
seeds that no selection ever reads; its benchmark_score there is shown beside the in-sample
one, so a score that only fits the selection episodes shows as what it is."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.goals import Goal, Suite
from bot.records import Judgment
from bot.scoring import benchmark_score


@dataclass(frozen=True)
class HeldOut:
    score: float  # benchmark_score on the held-out episodes
    episodes: int


def heldout_plan(suite: Suite, goals: Sequence[Goal]) -> list[tuple[Goal, tuple[int, ...], int]]:
    """Every held-out episode of the strategy's goals, in one stage."""
    return [(g, suite.heldout_seeds(g), 0) for g in goals]


def heldout_scores(
    judgments: Sequence[Judgment], goal_weights: Mapping[str, float]
) -> dict[str, HeldOut]:
    """Per variant: its held-out benchmark_score over the scored goals it was evaluated on."""
    by_variant: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for j in judgments:
        by_variant[j.variant][j.goal_id].append(j.reward_norm)
    out = {}
    for cid, goals in sorted(by_variant.items()):
        weights = {g: w for g, w in goal_weights.items() if g in goals}
        means = {g: sum(v) / len(v) for g, v in goals.items()}
        out[cid] = HeldOut(
            round(benchmark_score(means, weights), 6), sum(len(v) for v in goals.values())
        )
    return out
