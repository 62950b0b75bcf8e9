"""Aggregates written to `lineage/`: per-variant and per-strategy stats, and regret per goal."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

from bot.archive import Archive, meta_as_record
from bot.heldout import HeldOut
from bot.records import (
    CapacitySummary,
    GenerationSummary,
    GoalRegret,
    GoalStats,
    Judgment,
    LLMUsage,
    OperatorStats,
    RegretFile,
    StrategyStatsFile,
    StrategySummary,
    VariantStats,
)
from bot.scoring import VariantScore, Weights


def variant_stats(
    archive: Archive,
    scores: Mapping[str, VariantScore],
    *,
    penalties: Mapping[str, float],
    mutate_next: set[str],
    heldout: Mapping[str, HeldOut] | None = None,
) -> dict[str, VariantStats]:
    children = archive.children()
    heldout = heldout or {}
    out = {}
    for cid, m in sorted(archive.meta.items()):
        s = scores[cid]
        out[cid] = VariantStats(
            **meta_as_record(m),
            uses=s.uses,
            fails=s.fails,
            mean_reward=round(s.mean_reward, 6),
            avg_advantage=round(s.avg_advantage, 6),
            benchmark_score=round(s.benchmark_score, 6),
            delta_score=round(s.delta_score, 6),
            selection_score=round(s.selection_score, 6),
            sum_regret=round(s.sum_regret, 4),
            avg_regret=round(s.avg_regret, 4),
            penalty=penalties.get(cid, 0.0),
            mutate_next=cid in mutate_next,
            children=children.get(cid, 0),
            goals={
                g: GoalStats(
                    uses=gs.uses,
                    fails=gs.fails,
                    mean_reward_norm=round(gs.mean_reward_norm, 6),
                    sum_regret=round(gs.sum_regret, 4),
                    avg_regret=round(gs.avg_regret, 4),
                )
                for g, gs in s.goals.items()
            },
            heldout_score=heldout[cid].score if cid in heldout else None,
            heldout_episodes=heldout[cid].episodes if cid in heldout else 0,
        )
    return out


def strategy_summaries(
    variants: Mapping[str, VariantStats], elites: Mapping[str, str]
) -> dict[str, StrategySummary]:
    grouped: dict[str, list[VariantStats]] = defaultdict(list)
    for v in variants.values():
        grouped[v.strategy].append(v)
    out = {}
    for name, items in sorted(grouped.items()):
        elite = elites.get(name)
        out[name] = StrategySummary(
            elite=elite,
            niche=variants[elite].niche if elite is not None and elite in variants else None,
            variants=len(items),
            uses=sum(v.uses for v in items),
            fails=sum(v.fails for v in items),
            best_selection_score=max(v.selection_score for v in items),
            best_benchmark_score=max(v.benchmark_score for v in items),
        )
    return out


def build_stats(
    archive: Archive,
    scores: Mapping[str, VariantScore],
    *,
    generation: int,
    weights: Weights,
    window: int,
    penalties: Mapping[str, float],
    mutate_next: set[str],
    generations: Sequence[GenerationSummary],
    failure_cache: Sequence[str],
    capacity: CapacitySummary | None = None,
    operators: Mapping[str, OperatorStats] | None = None,
    heldout: Mapping[str, HeldOut] | None = None,
) -> StrategyStatsFile:
    variants = variant_stats(
        archive, scores, penalties=penalties, mutate_next=mutate_next, heldout=heldout
    )
    return StrategyStatsFile(
        generation=generation,
        formula=weights.formula,
        weights={"mean": weights.mean, "advantage": weights.advantage, "delta": weights.delta},
        baselines={g: round(v, 6) for g, v in sorted(archive.baselines(window=window).items())},
        elites=dict(sorted(archive.elites.items())),
        variants=variants,
        strategies=strategy_summaries(variants, archive.elites),
        generations=list(generations),
        failure_cache=sorted(set(failure_cache)),
        capacity=capacity,
        operators=dict(sorted((operators or {}).items())),
    )


def quantiles(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    return quantiles_of(len(ordered), ordered.__getitem__)


def quantiles_of(n: int, nth: Callable[[int], float]) -> dict[str, float]:
    """min, p25, median, p75 and max (linear interpolation) of n sorted values, the i-th
    smallest (0-based) given by `nth`; {} for none."""
    if not n:
        return {}

    def at(q: float) -> float:
        pos = q * (n - 1)
        low = int(pos)
        a, b = nth(low), nth(min(low + 1, n - 1))
        return a + (b - a) * (pos - low)

    return {
        k: round(at(q), 4)
        for k, q in (("min", 0), ("p25", 0.25), ("median", 0.5), ("p75", 0.75), ("max", 1))
    }


def build_regret(judgments: Sequence[Judgment], *, generation: int) -> RegretFile:
    per_goal: dict[str, list[Judgment]] = defaultdict(list)
    for j in judgments:
        per_goal[j.goal_id].append(j)
    goals = {}
    for goal, items in sorted(per_goal.items()):
        by_gen: dict[int, list[float]] = defaultdict(list)
        for j in items:
            by_gen[j.generation].append(j.regret)
        regrets = [j.regret for j in items]
        goals[goal] = GoalRegret(
            sum_regret=round(sum(regrets), 4),
            avg_regret=round(sum(regrets) / len(regrets), 4),
            judgments=len(items),
            distribution=quantiles(regrets),
            trend={str(g): round(sum(v) / len(v), 4) for g, v in sorted(by_gen.items())},
        )
    return RegretFile(generation=generation, goals=goals)


def operator_stats(
    prior: Mapping[str, OperatorStats],
    tallies: Mapping[str, Mapping[str, int]],
    archive: Archive,
    shares: Mapping[str, float],
    records: Mapping[str, tuple[int, int]],
    llm_usage: LLMUsage | None = None,
) -> dict[str, OperatorStats]:
    """Every operator's record: the planning tallies summed over generations (`prior` plus
    this generation's), the evaluated, improved and merged counts from the archive, and its
    share of the next children. `records` maps an operator to (evaluated, improved)."""
    merged: dict[str, int] = defaultdict(int)
    for m in archive.meta.values():
        if m.decision.startswith("merged"):
            merged[m.operator] += 1
    names = set(prior) | set(tallies) | set(shares) | set(records)
    names -= {"seed", "human"}
    usage = llm_usage or LLMUsage()
    out = {}
    for name in sorted(names):
        before = prior.get(name, OperatorStats())
        now = tallies.get(name, {})
        evaluated, improved = records.get(name, (0, 0))
        out[name] = OperatorStats(
            attempts=before.attempts + now.get("attempts", 0),
            made=before.made + now.get("made", 0),
            invalid=before.invalid + now.get("invalid", 0),
            duplicate=before.duplicate + now.get("duplicate", 0),
            cached=before.cached + now.get("cached", 0),
            planned=before.planned + now.get("planned", 0),
            evaluated=evaluated,
            improved=improved,
            merged=merged.get(name, 0),
            share=round(shares.get(name, 0.0), 4),
            tokens=before.tokens + (usage.tokens if name == "llm" else 0),
            cost=round(before.cost + (usage.cost if name == "llm" else 0.0), 6),
            llm=(before.llm or LLMUsage()).plus(usage) if name == "llm" else None,
        )
    return out
