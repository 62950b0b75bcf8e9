from __future__ import annotations

from bot.recommend import HotCache, rank_for_goal
from bot.records import GoalStats, StrategyStatsFile, VariantStats
from bot.scoring import Weights


def variant(
    cid: str, norm: float, *, status: str = "active", penalty: float = 0.0, regret: float = 1.0
) -> VariantStats:
    return VariantStats(
        candidate_id=cid,
        strategy="s",
        family="s",
        niche="s/c1",
        commit="0" * 40,
        parents=[],
        generation=0,
        operator="seed",
        status=status,
        uses=4,
        fails=0,
        mean_reward=norm,
        avg_advantage=0.0,  # type: ignore[arg-type]
        benchmark_score=norm,
        delta_score=0.0,
        selection_score=norm,
        sum_regret=4 * regret,
        avg_regret=regret,
        penalty=penalty,
        goals={
            "g": GoalStats(
                uses=4, fails=0, mean_reward_norm=norm, sum_regret=4 * regret, avg_regret=regret
            )
        },
    )


def stats(*variants: VariantStats) -> StrategyStatsFile:
    return StrategyStatsFile(
        generation=1,
        formula="weighted",
        weights={},
        baselines={"g": 0.5},
        elites={},
        variants={v.candidate_id: v for v in variants},
        strategies={},
        generations=[],
    )


def test_best_active_variant_first_and_inactive_ones_left_out() -> None:
    s = stats(
        variant("c-good", 0.9),
        variant("c-ok", 0.6, status="elite"),
        variant("c-deferred", 1.0, status="deferred"),
        variant("c-archived", 1.0, status="archived"),
    )
    ranked = rank_for_goal(s, "g", weights=Weights())
    assert [r.candidate_id for r in ranked] == ["c-good", "c-ok"]
    assert ranked[0].score == 0.5 * 0.9 + 0.3 * 0.4
    assert rank_for_goal(s, "other", weights=Weights()) == []


def test_the_reflection_penalty_lowers_a_variant() -> None:
    s = stats(variant("c-a", 0.9, penalty=0.5), variant("c-b", 0.7))
    assert [r.candidate_id for r in rank_for_goal(s, "g", weights=Weights())] == ["c-b", "c-a"]


def test_hot_cache_serves_from_memory_until_the_stats_change() -> None:
    current = {"version": "1", "stats": stats(variant("c-a", 0.5))}
    cache = HotCache(version=lambda: str(current["version"]), load=lambda: current["stats"])  # type: ignore[arg-type,return-value]
    assert cache.recommend("g", weights=Weights())[0].candidate_id == "c-a"
    assert cache.recommend("g", weights=Weights())[0].candidate_id == "c-a"
    assert cache.loads == 1
    current["stats"] = stats(variant("c-a", 0.5), variant("c-b", 0.9))
    assert cache.recommend("g", weights=Weights())[0].candidate_id == "c-a"  # not told yet
    current["version"] = "2"
    assert cache.recommend("g", weights=Weights())[0].candidate_id == "c-b"
    assert cache.loads == 2
