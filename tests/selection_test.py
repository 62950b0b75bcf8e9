from __future__ import annotations

import random

from bot.scoring import GoalScore, VariantScore
from bot.selection import Entrant, Rule, decide, judge, paired_p_value


def score(
    s: float, goals: dict[str, float] | None = None, *, uses: int = 10, fails: int = 0
) -> VariantScore:
    goals = goals or {"a": 0.5}
    return VariantScore(
        uses=uses,
        fails=fails,
        mean_reward=s,
        avg_advantage=0.0,
        benchmark_score=s,
        delta_score=0.0,
        selection_score=s,
        sum_regret=0.0,
        avg_regret=0.0,
        goals={g: GoalScore(uses, 0, v, 0.0, 0.0) for g, v in goals.items()},
    )


RNG = random.Random(0)


def test_child_must_beat_elite_by_the_margin() -> None:
    rule = Rule(min_improvement=0.01)
    elite = score(0.5)
    assert judge(Entrant("c-1", "n", score(0.509)), elite, rule=rule, rng=RNG).merge is False
    d = judge(Entrant("c-2", "n", score(0.511)), elite, rule=rule, rng=RNG)
    assert d.merge is True and d.threshold == 0.51


def test_a_regret_margin_shrinks_as_the_elite_nears_the_optimum() -> None:
    rule = Rule(min_improvement=0.01, margin="regret")
    far, near = score(0.5), score(0.9)  # remaining regret 0.5 and 0.1
    assert judge(Entrant("c-1", "n", score(0.504)), far, rule=rule, rng=RNG).merge is False
    assert judge(Entrant("c-2", "n", score(0.506)), far, rule=rule, rng=RNG).merge is True
    d = judge(Entrant("c-3", "n", score(0.9011)), near, rule=rule, rng=RNG)
    assert d.merge is True and abs(d.threshold - 0.901) < 1e-12


def test_invalid_or_failing_children_never_merge() -> None:
    rule = Rule(max_failure_rate=0.2)
    elite = score(0.1)
    stopped = judge(
        Entrant("c", "n", score(0.9), invalid="early stop: trailed"), elite, rule=rule, rng=RNG
    )
    assert not stopped.merge and stopped.reason == "early stop: trailed"
    failing = judge(Entrant("c", "n", score(0.9, fails=3)), elite, rule=rule, rng=RNG)
    assert not failing.merge and "failure rate" in failing.reason


def test_goal_regression_guard_blocks_overfitting_one_goal() -> None:
    rule = Rule(max_goal_regression=0.05)
    elite = score(0.5, {"a": 0.5, "b": 0.5})
    child = score(0.6, {"a": 0.9, "b": 0.3})
    d = judge(Entrant("c", "n", child), elite, rule=rule, rng=RNG)
    assert not d.merge and "goal b regressed" in d.reason


def test_a_new_niche_has_no_elite_and_any_valid_child_merges() -> None:
    assert judge(Entrant("c", "n", score(0.01)), None, rule=Rule(), rng=RNG).merge


def test_a_founder_may_not_trail_the_elite_it_came_from_by_more_than_the_margin() -> None:
    origin = score(0.79)
    poor = judge(Entrant("c", "mlp-c1", score(0.03), origin=origin), None, rule=Rule(), rng=RNG)
    assert not poor.merge
    assert poor.reason == (
        "does not found niche mlp-c1: mean reward_norm 0.030 trails the elite it came from "
        "(0.790) by more than 0.1"
    )
    close = Entrant("c", "mlp-c1", score(0.70), origin=origin)
    assert judge(close, None, rule=Rule(), rng=RNG).merge


def test_only_the_best_sibling_of_a_niche_merges() -> None:
    elites = {"n": score(0.2), "m": score(0.2)}
    entrants = [
        Entrant("c-a", "n", score(0.4)),
        Entrant("c-b", "n", score(0.5)),
        Entrant("c-c", "m", score(0.3)),
    ]
    decisions = {d.candidate_id: d for d in decide(entrants, elites, rule=Rule(), rng=RNG)}
    assert decisions["c-b"].merge and decisions["c-c"].merge
    assert not decisions["c-a"].merge and "sibling" in decisions["c-a"].reason


def test_paired_test_needs_consistent_improvement() -> None:
    rng = random.Random(1)
    assert paired_p_value([0.1] * 12, rng=rng) < 0.01
    assert paired_p_value([0.3, -0.3, 0.2, -0.25, 0.01, -0.02], rng=rng) > 0.2
    rule = Rule(paired_test=True, alpha=0.05)
    noisy = Entrant("c", "n", score(0.6), paired_diffs=(0.5, -0.4, 0.3, -0.2))
    d = judge(noisy, score(0.5), rule=rule, rng=rng)
    assert not d.merge and "paired test" in d.reason
    steady = Entrant("c", "n", score(0.6), paired_diffs=(0.1,) * 10)
    assert judge(steady, score(0.5), rule=rule, rng=rng).merge


def test_rebase_measures_delta_against_the_elite() -> None:
    from dataclasses import replace

    from bot.scoring import Weights
    from bot.selection import rebase

    elite = replace(score(0.70), delta_score=0.25, selection_score=0.5 * 0.7 + 0.2 * 0.25)
    child = replace(score(0.73), delta_score=0.03, selection_score=0.5 * 0.73 + 0.2 * 0.03)
    rule = Rule(min_improvement=0.005)
    # literally, the elite's own past jump (0.25) outweighs a child that is better everywhere
    assert not judge(Entrant("c", "n", child), elite, rule=rule, rng=RNG).merge
    w = Weights()
    fair_child, fair_elite = (
        rebase(child, reference=0.70, weights=w),
        rebase(elite, reference=0.70, weights=w),
    )
    assert fair_elite.delta_score == 0 and fair_child.delta_score == 0.73 - 0.70
    assert fair_child.selection_score == 0.5 * 0.73 + 0.2 * (0.73 - 0.70)
    assert judge(Entrant("c", "n", fair_child), fair_elite, rule=rule, rng=RNG).merge


def test_paired_intervals_pair_by_goal_and_seed() -> None:
    from bot.archive import paired_intervals
    from tests.workspace_test import judgment

    parent = [judgment("c-p", i).model_copy(update={"reward_norm": 0.5}) for i in range(4)]
    child = [
        judgment("c-c", i).model_copy(update={"reward_norm": 0.5 + d})
        for i, d in enumerate([0.1, 0.3, 0.1, 0.3])
    ]
    child.append(judgment("c-c", 9))  # a seed the parent never faced: not a pair
    mean, half, n = paired_intervals(child, parent)["g"]
    assert n == 4 and abs(mean - 0.2) < 1e-12
    # sd of (0.1, 0.3, 0.1, 0.3) is 0.11547; 1.96 * sd / sqrt(4)
    assert abs(half - 1.96 * 0.115470053837925 / 2) < 1e-9
    one = paired_intervals(child[:1], parent)["g"]
    assert one[1:] == (0.0, 1) and abs(one[0] - 0.1) < 1e-12  # one pair: no interval


def test_a_child_that_overfits_the_scored_goals_is_closed_by_a_held_out_one() -> None:
    from bot.scoring import GoalTally, Weights, score_tallies

    def tallies(scored: float, held: float) -> dict[str, GoalTally]:
        out = {}
        for goal, norm in (("a", scored), ("b", scored), ("h", held)):
            t = GoalTally()
            t.uses, t.sum_norm = 10, 10 * norm
            out[goal] = t
        return out

    weights = {"a": 1.0, "b": 1.0}  # "h" is held out: not among the scored weights
    kwargs = {"baselines": {}, "goal_weights": weights, "parent_benchmark": None}
    elite = score_tallies(tallies(0.5, 0.8), weights=Weights(), **kwargs)  # type: ignore[arg-type]
    child = score_tallies(tallies(0.7, 0.2), weights=Weights(), **kwargs)  # type: ignore[arg-type]
    # S and benchmark_score see only the scored goals: the child looks better
    assert child.benchmark_score == 0.7 and elite.benchmark_score == 0.5
    assert child.mean_reward == 0.7 and child.selection_score > elite.selection_score
    rule = Rule(max_goal_regression=0.05, holdout=frozenset({"h"}))
    d = judge(Entrant("c", "n", child), elite, rule=rule, rng=RNG)
    assert not d.merge and d.reason.startswith("held-out goal h regressed")
