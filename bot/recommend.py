"""Decision: the best active variant for a goal, served from an in-memory cache of active
variants' stats that is rebuilt whenever the stats change (the seed's HotCache)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.records import StrategyStatsFile
from bot.scoring import Weights, selection_score


@dataclass(frozen=True)
class Recommendation:
    candidate_id: str
    strategy: str
    status: str
    score: float  # the goal's selection score, after the reflection penalty
    mean_reward_norm: float
    avg_regret: float
    uses: int


def rank_for_goal(stats: StrategyStatsFile, goal: str, *, weights: Weights) -> list[Recommendation]:
    """Active variants (elite or active, not deferred or archived) ordered best first."""
    baseline = stats.baselines.get(goal, 0.0)
    out = []
    for cid, v in stats.variants.items():
        g = v.goals.get(goal)
        if v.status not in ("elite", "active") or g is None or g.uses == 0:
            continue
        s = selection_score(
            mean_reward=g.mean_reward_norm,
            avg_advantage=g.mean_reward_norm - baseline,
            delta_score=v.delta_score,
            weights=weights,
        ) * (1.0 - v.penalty)
        out.append(
            Recommendation(cid, v.strategy, v.status, s, g.mean_reward_norm, g.avg_regret, g.uses)
        )
    return sorted(out, key=lambda r: (-r.score, r.avg_regret, r.candidate_id))


class HotCache:
    """Active-variant stats kept in memory; `version` tells when they must be reloaded."""

    def __init__(
        self, *, version: Callable[[], str], load: Callable[[], StrategyStatsFile | None]
    ) -> None:
        self._version = version
        self._load = load
        self._token: str | None = None
        self._stats: StrategyStatsFile | None = None
        self._ranked: dict[tuple[str, Weights], list[Recommendation]] = {}
        self.loads = 0

    def stats(self) -> StrategyStatsFile | None:
        token = self._version()
        if token != self._token:
            self._stats = self._load()
            self._token = token
            self._ranked.clear()
            self.loads += 1
        return self._stats

    def recommend(self, goal: str, *, weights: Weights) -> list[Recommendation]:
        stats = self.stats()
        if stats is None:
            return []
        key = (goal, weights)
        if key not in self._ranked:
            self._ranked[key] = rank_for_goal(stats, goal, weights=weights)
        return self._ranked[key]
