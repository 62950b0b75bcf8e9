"""The archive in memory: every evaluated variant's metadata and judgments, and their scores."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from bot.records import Judgment, Status, VariantStats
from bot.scoring import GoalTally, VariantScore, Weights, benchmark_score, score_tallies


@dataclass(frozen=True)
class VariantMeta:
    candidate_id: str
    strategy: str
    family: str
    niche: str
    commit: str
    parents: tuple[str, ...]
    generation: int
    operator: str
    content: str
    summary: str = ""
    status: Status = "active"
    novelty: str = ""
    tokens: int = 0
    cost: float = 0.0
    decision: str = ""
    pr: int | None = None
    early_stopped: bool = False
    clone: bool = False
    cell: str = ""  # its behaviour cell inside the niche (see cells.py), once evaluated
    hidden_dim: int | None = None
    failure: str = ""  # why an episode failed, as its worker said it (untrusted text)


META_FIELDS = tuple(f.name for f in fields(VariantMeta))


def meta_from_record(record: VariantStats) -> VariantMeta:
    """A variant's metadata as recorded in strategy_stats.json (every field has one name)."""
    values: dict[str, Any] = {name: getattr(record, name) for name in META_FIELDS}
    return VariantMeta(**{**values, "parents": tuple(record.parents)})


def meta_as_record(meta: VariantMeta) -> dict[str, Any]:
    """The metadata fields of a VariantStats record."""
    values: dict[str, Any] = {name: getattr(meta, name) for name in META_FIELDS}
    return {**values, "parents": list(meta.parents)}


@dataclass
class Archive:
    """Judgments are only ever added, so per-variant tallies and per-goal prefix sums are kept
    up to date as they arrive: scoring the whole archive costs O(variants × goals), not
    O(judgments), and a baseline over any window costs O(1)."""

    meta: dict[str, VariantMeta]
    judgments: list[Judgment]
    elites: dict[str, str] = field(default_factory=dict)  # strategy -> candidate id on main
    _grouped: dict[str, list[Judgment]] = field(default_factory=dict, repr=False)
    _keys: set[tuple[str, str, int]] = field(default_factory=set, repr=False)
    _tallies: dict[str, dict[str, GoalTally]] = field(default_factory=dict, repr=False)
    _prefix: dict[str, list[float]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        given, self.judgments = self.judgments, []
        self.add_judgments(given)

    def copy(self) -> Archive:
        """An independent archive with the same contents (no judgment is re-read)."""
        twin = Archive(dict(self.meta), [], dict(self.elites))
        twin.judgments = list(self.judgments)
        twin._grouped = {k: list(v) for k, v in self._grouped.items()}
        twin._keys = set(self._keys)
        twin._tallies = {
            cid: {g: replace(t) for g, t in goals.items()} for cid, goals in self._tallies.items()
        }
        twin._prefix = {k: list(v) for k, v in self._prefix.items()}
        return twin

    def by_variant(self) -> dict[str, list[Judgment]]:
        return self._grouped

    def add_judgments(self, judgments: Sequence[Judgment]) -> list[Judgment]:
        """Add the judgments the archive does not hold yet; returns those."""
        fresh = []
        for j in judgments:
            if j.key in self._keys:
                continue
            self._keys.add(j.key)
            self._grouped.setdefault(j.variant, []).append(j)
            self._tallies.setdefault(j.variant, {}).setdefault(j.goal_id, GoalTally()).add(j)
            prefix = self._prefix.setdefault(j.goal_id, [0.0])
            prefix.append(prefix[-1] + j.reward_norm)
            fresh.append(j)
        self.judgments.extend(fresh)
        return fresh

    def children(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for m in self.meta.values():
            for p in set(m.parents):
                counts[p] += 1
        return counts

    def elite_for(self, strategy: str, parents: Sequence[str]) -> str | None:
        """The elite a child of `parents` in `strategy` is measured against: that niche's,
        or — a child founding an empty niche — the elite of the niche its parent is in."""
        elite = self.elites.get(strategy)
        if elite is not None or not parents or parents[0] not in self.meta:
            return elite
        return self.elites.get(self.meta[parents[0]].strategy)

    def contents(self) -> set[str]:
        return {m.content for m in self.meta.values()}

    def add(self, meta: VariantMeta) -> None:
        self.meta[meta.candidate_id] = meta

    def update(self, cid: str, **changes: object) -> None:
        self.meta[cid] = replace(self.meta[cid], **changes)  # type: ignore[arg-type]

    def baselines(self, *, window: int) -> dict[str, float]:
        """Per goal, the mean reward_norm of its last `window` judgments."""
        out = {}
        for goal, prefix in self._prefix.items():
            n = len(prefix) - 1
            k = min(n, window)
            out[goal] = (prefix[n] - prefix[n - k]) / k if k else 0.0
        return out

    def scores(
        self,
        *,
        weights: Weights,
        goal_weights: Mapping[str, float],
        window: int,
        strategy_goals: Mapping[str, frozenset[str]] | None = None,
    ) -> dict[str, VariantScore]:
        """Every variant's score; delta is measured against its first parent. With
        `strategy_goals` (several suites in one run) a variant is scored on its strategy's
        goals only."""
        return score_all(
            self.meta,
            self._tallies,
            baselines=self.baselines(window=window),
            weights=weights,
            goal_weights=goal_weights,
            strategy_goals=strategy_goals,
        )


def score_all(
    meta: Mapping[str, VariantMeta],
    tallies: Mapping[str, Mapping[str, GoalTally]],
    *,
    baselines: Mapping[str, float],
    weights: Weights,
    goal_weights: Mapping[str, float],
    strategy_goals: Mapping[str, frozenset[str]] | None = None,
) -> dict[str, VariantScore]:
    """Every variant's score from its per-goal tallies; delta against its first parent."""
    empty: dict[str, GoalTally] = {}
    per_strategy = {
        name: {g: w for g, w in goal_weights.items() if g in goals}
        for name, goals in (strategy_goals or {}).items()
    }

    def weights_of(cid: str, mine: Mapping[str, GoalTally]) -> Mapping[str, float]:
        if strategy_goals is None:
            return goal_weights
        known = per_strategy.get(meta[cid].strategy)
        if known is not None:
            return known
        # a folder not on the base branch yet (a child founding a niche): its goals
        return {g: w for g, w in goal_weights.items() if g in mine}

    def score(cid: str, parent_benchmark: float | None) -> VariantScore:
        mine = tallies.get(cid, empty)
        return score_tallies(
            mine,
            baselines=baselines,
            goal_weights=weights_of(cid, mine),
            parent_benchmark=parent_benchmark,
            weights=weights,
        )

    def bench_of(cid: str) -> float:  # what score(cid, ...).benchmark_score is, for less
        mine = tallies.get(cid, empty)
        means = {g: t.sum_norm / t.uses if t.uses else 0.0 for g, t in mine.items()}
        return benchmark_score(means, weights_of(cid, mine))

    bench = {cid: bench_of(cid) for cid in meta}
    return {
        cid: score(cid, bench.get(m.parents[0]) if m.parents else None) for cid, m in meta.items()
    }


def paired_diffs(child: Sequence[Judgment], elite: Sequence[Judgment]) -> tuple[float, ...]:
    """reward_norm differences on the episodes both faced (same goal, same seed)."""
    theirs = {(j.goal_id, j.seed): j.reward_norm for j in elite}
    return tuple(
        j.reward_norm - theirs[(j.goal_id, j.seed)] for j in child if (j.goal_id, j.seed) in theirs
    )


def paired_intervals(
    child: Sequence[Judgment], parent: Sequence[Judgment]
) -> dict[str, tuple[float, float, int]]:
    """Per goal: the mean paired reward_norm difference on the episodes both faced, the
    half-width of its normal 95 % interval (0 with fewer than two pairs), and the pairs."""
    theirs = {(j.goal_id, j.seed): j.reward_norm for j in parent}
    by_goal: dict[str, list[float]] = {}
    for j in child:
        if (j.goal_id, j.seed) in theirs:
            by_goal.setdefault(j.goal_id, []).append(j.reward_norm - theirs[(j.goal_id, j.seed)])
    out = {}
    for goal, diffs in by_goal.items():
        n = len(diffs)
        mean = sum(diffs) / n
        if n > 1:
            var = sum((d - mean) ** 2 for d in diffs) / (n - 1)
            half = 1.96 * (var / n) ** 0.5
        else:
            half = 0.0
        out[goal] = (mean, half, n)
    return out
