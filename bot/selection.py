"""The merge rule of DESIGN §3, and the siblings rule: pure functions over scores."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from bot.scoring import VariantScore, Weights, selection_score


@dataclass(frozen=True)
class Rule:
    min_improvement: float = 0.0005
    max_goal_regression: float = 0.05
    max_failure_rate: float = 0.2
    paired_test: bool = False
    alpha: float = 0.1
    holdout: frozenset[str] = frozenset()  # goals only this guard reads
    # a child founding an empty niche may trail the elite it came from by at most this much
    # mean reward_norm: a new strategy folder on main is no place for a poor variant
    found_margin: float = 0.1
    margin: str = "absolute"  # or "regret": min_improvement × (1 − elite mean reward_norm)


@dataclass(frozen=True)
class Entrant:
    """A child that finished evaluation in this generation."""

    candidate_id: str
    niche: str
    score: VariantScore
    invalid: str | None = None  # why it cannot merge whatever it scored (early stop, failures)
    paired_diffs: tuple[float, ...] = ()  # child − elite reward_norm, episode by episode
    # a founder of an empty niche: the elite of the niche its parent is in
    origin: VariantScore | None = None


@dataclass(frozen=True)
class Decision:
    candidate_id: str
    merge: bool
    reason: str
    threshold: float


def rebase(score: VariantScore, *, reference: float, weights: Weights) -> VariantScore:
    """The score with delta_score measured against `reference` (a benchmark_score), so that a
    child and its niche elite are compared on the same footing: the elite's own past jump
    over its parent says nothing about whether this child beats it."""
    delta = score.benchmark_score - reference
    s = selection_score(
        mean_reward=score.mean_reward,
        avg_advantage=score.avg_advantage,
        delta_score=delta,
        weights=weights,
    )
    return replace(score, delta_score=delta, selection_score=s)


def paired_p_value(diffs: Sequence[float], *, rng: random.Random, rounds: int = 2000) -> float:
    """One-sided sign-flip permutation test that the mean paired difference is above zero."""
    if not diffs:
        return 1.0
    observed = sum(diffs) / len(diffs)
    hits = 0
    for _ in range(rounds):
        flipped = sum(d if rng.random() < 0.5 else -d for d in diffs) / len(diffs)
        if flipped >= observed - 1e-12:
            hits += 1
    return (hits + 1) / (rounds + 1)


def judge(
    child: Entrant, elite: VariantScore | None, *, rule: Rule, rng: random.Random
) -> Decision:
    """Does one child beat its niche elite? (The siblings rule is applied by `decide`.)"""
    elite_s = elite.selection_score if elite else float("-inf")
    scale = 1.0 if rule.margin == "absolute" or elite is None else 1.0 - elite.mean_reward
    threshold = elite_s + rule.min_improvement * max(0.0, scale)
    s = child.score.selection_score
    if child.invalid:
        return Decision(child.candidate_id, False, child.invalid, threshold)
    if child.score.failure_rate > rule.max_failure_rate:
        return Decision(
            child.candidate_id,
            False,
            f"failure rate {child.score.failure_rate:.0%} above the limit {rule.max_failure_rate:.0%}",
            threshold,
        )
    if elite is None and child.origin is not None:
        floor = child.origin.mean_reward - rule.found_margin
        if child.score.mean_reward < floor:
            return Decision(
                child.candidate_id,
                False,
                f"does not found niche {child.niche}: mean reward_norm "
                f"{child.score.mean_reward:.3f} trails the elite it came from "
                f"({child.origin.mean_reward:.3f}) by more than {rule.found_margin}",
                threshold,
            )
    if s < threshold:
        return Decision(
            child.candidate_id,
            False,
            f"S {s:.4f} below the threshold {threshold:.4f} (the niche elite's "
            f"{elite_s:.4f} + margin {threshold - elite_s:.4f})",
            threshold,
        )
    if elite is not None:
        for goal, mine in sorted(child.score.goals.items()):
            theirs = elite.goals.get(goal)
            if (
                theirs
                and mine.mean_reward_norm < theirs.mean_reward_norm - rule.max_goal_regression
            ):
                return Decision(
                    child.candidate_id,
                    False,
                    f"{'held-out ' if goal in rule.holdout else ''}goal {goal} regressed: "
                    f"reward_norm {mine.mean_reward_norm:.3f} vs the elite's "
                    f"{theirs.mean_reward_norm:.3f} (guard {rule.max_goal_regression})",
                    threshold,
                )
        if rule.paired_test:
            p = paired_p_value(child.paired_diffs, rng=rng)
            if p > rule.alpha:
                return Decision(
                    child.candidate_id,
                    False,
                    f"paired test not significant (p={p:.3f} > {rule.alpha})",
                    threshold,
                )
    return Decision(child.candidate_id, True, f"S {s:.4f} ≥ threshold {threshold:.4f}", threshold)


def decide(
    entrants: Sequence[Entrant],
    elites: Mapping[str, VariantScore],
    *,
    rule: Rule,
    rng: random.Random,
) -> list[Decision]:
    """Judge every entrant; among winners of one niche only the best S merges."""
    decisions = {
        e.candidate_id: judge(e, elites.get(e.niche), rule=rule, rng=rng) for e in entrants
    }
    best: dict[str, Entrant] = {}
    for e in entrants:
        if decisions[e.candidate_id].merge:
            incumbent = best.get(e.niche)
            if incumbent is None or (e.score.selection_score, e.candidate_id) > (
                incumbent.score.selection_score,
                incumbent.candidate_id,
            ):
                best[e.niche] = e
    out = []
    for e in entrants:
        d = decisions[e.candidate_id]
        if d.merge and best[e.niche].candidate_id != e.candidate_id:
            winner = best[e.niche]
            d = Decision(
                e.candidate_id,
                False,
                f"a sibling in niche {e.niche} scored higher ({winner.candidate_id}, "
                f"S {winner.score.selection_score:.4f})",
                d.threshold,
            )
        out.append(d)
    return out
