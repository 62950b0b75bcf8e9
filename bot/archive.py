"""The archive in memory: every evaluated variant's metadata and judgments, and their scores."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from bot.records import Judgment, Status
from bot.scoring import VariantScore, Weights, goal_baselines, score_variant


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
    decision: str = ""
    pr: int | None = None
    early_stopped: bool = False
    hidden_dim: int | None = None


@dataclass
class Archive:
    meta: dict[str, VariantMeta]
    judgments: list[Judgment]
    elites: dict[str, str] = field(default_factory=dict)  # strategy -> candidate id on main
    _grouped: dict[str, list[Judgment]] | None = field(default=None, repr=False)
    _keys: set[tuple[str, str, int]] | None = field(default=None, repr=False)
    _baselines: dict[int, dict[str, float]] = field(default_factory=dict, repr=False)

    def by_variant(self) -> dict[str, list[Judgment]]:
        if self._grouped is None:
            grouped: dict[str, list[Judgment]] = defaultdict(list)
            for j in self.judgments:
                grouped[j.variant].append(j)
            self._grouped = grouped
        return self._grouped

    def judgment_keys(self) -> set[tuple[str, str, int]]:
        if self._keys is None:
            self._keys = {j.key for j in self.judgments}
        return self._keys

    def add_judgments(self, judgments: Sequence[Judgment]) -> list[Judgment]:
        """Add the judgments the archive does not hold yet; returns those."""
        keys = self.judgment_keys()
        fresh = [j for j in judgments if j.key not in keys]
        grouped = self.by_variant()
        for j in fresh:
            keys.add(j.key)
            grouped[j.variant].append(j)
        self.judgments.extend(fresh)
        if fresh:
            self._baselines.clear()
        return fresh

    def children(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for m in self.meta.values():
            for p in set(m.parents):
                counts[p] += 1
        return counts

    def contents(self) -> set[str]:
        return {m.content for m in self.meta.values()}

    def add(self, meta: VariantMeta) -> None:
        self.meta[meta.candidate_id] = meta

    def update(self, cid: str, **changes: object) -> None:
        self.meta[cid] = replace(self.meta[cid], **changes)  # type: ignore[arg-type]

    def baselines(self, *, window: int) -> dict[str, float]:
        if window not in self._baselines:
            self._baselines[window] = goal_baselines(self.judgments, window=window)
        return self._baselines[window]

    def scores(
        self, *, weights: Weights, goal_weights: Mapping[str, float], window: int
    ) -> dict[str, VariantScore]:
        """Every variant's score; delta is measured against its first parent."""
        baselines = self.baselines(window=window)
        grouped = self.by_variant()
        bench = {
            cid: score_variant(
                grouped.get(cid, []),
                baselines=baselines,
                goal_weights=goal_weights,
                parent_benchmark=None,
                weights=weights,
            ).benchmark_score
            for cid in self.meta
        }
        out = {}
        for cid, meta in self.meta.items():
            parent = meta.parents[0] if meta.parents else None
            out[cid] = score_variant(
                grouped.get(cid, []),
                baselines=baselines,
                goal_weights=goal_weights,
                parent_benchmark=bench.get(parent) if parent else None,
                weights=weights,
            )
        return out


def paired_diffs(child: Sequence[Judgment], elite: Sequence[Judgment]) -> tuple[float, ...]:
    """reward_norm differences on the episodes both faced (same goal, same seed)."""
    theirs = {(j.goal_id, j.seed): j.reward_norm for j in elite}
    return tuple(
        j.reward_norm - theirs[(j.goal_id, j.seed)] for j in child if (j.goal_id, j.seed) in theirs
    )
