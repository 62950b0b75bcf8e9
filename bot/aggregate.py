"""Stats from the raw judgments in one streaming pass.

`lineage/judgments.jsonl` only grows; the loop keeps running tallies as judgments arrive.
This module recomputes the same aggregates from the file alone — per variant and goal
tallies, each goal's baseline over the stats window, regret per goal with its distribution
and trend — reading one line at a time. Memory grows with variants, goals and generations,
never with judgments: the window is a bounded queue, the regret distribution a count of
values at four significant digits. `augnes stats --recompute` uses it to check that the
committed aggregates follow from the committed judgments.
"""

from __future__ import annotations

import json
import math
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.records import GoalRegret, RegretFile
from bot.scoring import GoalTally
from bot.stats import quantiles_of

MAX_PROBLEMS = 20  # corrupt lines reported one by one; the rest are counted


@dataclass
class _Tally(GoalTally):
    highest: int = -1  # the highest episode index seen


@dataclass
class _Goal:
    """One goal's running state: its baseline window and its regret."""

    size: int
    window: deque[float] = field(default_factory=deque)
    window_total: float = 0.0
    count: int = 0
    total: float = 0.0
    values: Counter[float] = field(default_factory=Counter)  # regret at 4 significant digits
    by_generation: dict[int, list[float]] = field(default_factory=dict)  # [sum, count]


@dataclass
class Aggregate:
    window: int
    judgments: int = 0
    tallies: dict[str, dict[str, _Tally]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    corrupt: int = 0
    duplicates: int = 0  # judgments beyond the episodes their (variant, goal) ran
    _goals: dict[str, _Goal] = field(default_factory=dict)

    def baselines(self) -> dict[str, float]:
        """Per goal, the mean reward_norm of its last `window` judgments."""
        return {
            goal: g.window_total / len(g.window) if g.window else 0.0
            for goal, g in self._goals.items()
        }

    def regret(self, *, generation: int) -> RegretFile:
        goals = {}
        for goal, r in sorted(self._goals.items()):
            goals[goal] = GoalRegret(
                sum_regret=round(r.total, 4),
                avg_regret=round(r.total / r.count, 4),
                judgments=r.count,
                distribution=counted_quantiles(r.values),
                trend={str(g): round(s / n, 4) for g, (s, n) in sorted(r.by_generation.items())},
            )
        return RegretFile(generation=generation, goals=goals)


def aggregate(lines: Iterable[bytes | str], *, window: int, source: str) -> Aggregate:
    """One pass over JSONL judgment lines. A corrupt line is reported with its number and
    skipped, as when the loop reads the file. (Written for speed: one check of all fields
    on the common path, the precise complaint only for a line that fails it.)"""
    agg = Aggregate(window=window)
    tallies, goals = agg.tallies, agg._goals
    decode = json.JSONDecoder().raw_decode
    for number, raw in enumerate(lines, start=1):
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        text = text.strip()
        if not text:
            continue
        try:
            j, end = decode(text)
            if end != len(text):
                raise ValueError("extra data after the JSON object")
            variant, goal, generation = j["variant"], j["goal_id"], j["generation"]
            episode, norm, regret, failure = (
                j["episode"],
                j["reward_norm"],
                j["regret"],
                j["failure"],
            )
            if not (
                type(variant) is str
                and type(goal) is str
                and type(generation) is int
                and generation >= 0
                and type(episode) is int
                and episode >= 0
                and type(norm) in (float, int)
                and 0 <= norm <= 1
                and type(regret) in (float, int)
                and math.isfinite(regret)
                and (failure is None or type(failure) is str)
            ):
                raise ValueError(_why(j))
        except (ValueError, KeyError, TypeError) as exc:
            agg.corrupt += 1
            if len(agg.problems) < MAX_PROBLEMS:
                what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
                agg.problems.append(f"{source}:{number}: {what}")
            continue
        mine = tallies.get(variant)
        if mine is None:
            mine = tallies[variant] = {}
        t = mine.get(goal)
        if t is None:
            t = mine[goal] = _Tally()
        if episode > t.highest:
            t.highest = episode
        t.uses += 1
        if t.uses > t.highest + 1:  # more judgments than episodes: one is there twice
            agg.duplicates += 1
        if failure:
            t.fails += 1
        t.sum_norm += norm
        t.sum_regret += regret
        g = goals.get(goal)
        if g is None:
            g = goals[goal] = _Goal(window)
        g.window.append(norm)
        g.window_total += norm
        if len(g.window) > window:
            g.window_total -= g.window.popleft()
        g.count += 1
        g.total += regret
        g.values[float(f"{regret:.4g}")] += 1
        per_gen = g.by_generation.get(generation)
        if per_gen is None:
            per_gen = g.by_generation[generation] = [0.0, 0]
        per_gen[0] += regret
        per_gen[1] += 1
    agg.judgments = sum(t.uses for goals_of in tallies.values() for t in goals_of.values())
    if agg.corrupt > len(agg.problems):
        agg.problems.append(f"{source}: {agg.corrupt - len(agg.problems)} more corrupt line(s)")
    return agg


def _why(j: object) -> str:
    """What is wrong with a judgment line that failed the quick check."""
    if not isinstance(j, dict):
        return "not a JSON object"
    for name in ("variant", "goal_id"):
        if not isinstance(j[name], str):
            return f"{name}: must be a string"
    for name in ("generation", "episode"):
        value = j[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return f"{name}: must be a whole number ≥ 0"
    for name, low, high in (("reward_norm", 0.0, 1.0), ("regret", -math.inf, math.inf)):
        value = j[name]
        if (
            not isinstance(value, (int, float))
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            return f"{name}: must be a finite number"
        if not low <= value <= high:
            return f"{name}: must lie in [{low}, {high}]"
    return "failure: must be a string or null"


def counted_quantiles(counts: Mapping[float, int]) -> dict[str, float]:
    """`bot.stats.quantiles` over values given as value -> how many times."""
    ordered = sorted(counts.items())

    def nth(i: int) -> float:  # the i-th smallest value, 0-based
        seen = 0
        for value, c in ordered:
            seen += c
            if i < seen:
                return value
        return ordered[-1][0]

    return quantiles_of(sum(c for _, c in ordered), nth)
