"""Evaluate an archived variant again, exactly as the loop did, without recording anything."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.candidates import archive_ref
from bot.errors import RepoError
from bot.evaluator import Episode, strategy_session
from bot.goals import Goal
from bot.heldout import heldout_plan
from bot.sandbox import open_sandbox
from bot.scoring import benchmark_score, reward_norm
from bot.workspace import Workspace
from bot.world_model.store import ModelStore


@dataclass(frozen=True)
class Replay:
    candidate: str
    commit: str
    strategy: str
    episodes: list[Episode]
    goal_means: dict[str, float]
    benchmark_score: float
    recorded: dict[str, float]  # per-goal mean reward_norm in lineage, where known


def run_suite(
    ws: Workspace, commit: str, strategy: str, *, harness: str | None = None
) -> list[Episode]:
    """Every goal's episodes, on its fixed seeds, for `strategy` as it is at `commit`, in
    the configured sandbox; a model-based strategy gets the world models recorded at
    `harness` (default: the base branch)."""
    return run_suite_and_heldout(ws, commit, strategy, harness=harness, heldout=False)[0]


def run_suite_and_heldout(
    ws: Workspace, commit: str, strategy: str, *, harness: str | None = None, heldout: bool
) -> tuple[list[Episode], list[Episode]]:
    """As run_suite, and then (with `heldout`) every episode on the held-out seeds, from
    the same worker: the selection episodes first, the held-out ones apart."""
    src = ws.read_strategy(commit, strategy)
    goals = ws.goals_for(src.manifest)
    store = ModelStore(ws, harness or ws.main_sha(), train_missing=False, generation=-1)
    sandbox = open_sandbox(ws.config.evaluation)
    try:
        with strategy_session(
            ws, sandbox, commit, strategy, models=store.feed(src.manifest.capacity(src.params))
        ) as session:
            episodes = session.run([(g, ws.suite.seeds(g), 0) for g in goals])
            return episodes, session.run(heldout_plan(ws.suite, goals)) if heldout else []
    finally:
        sandbox.close()


def goal_means(episodes: Sequence[Episode], goals: Sequence[Goal]) -> dict[str, float]:
    """Per goal, the mean reward_norm of its episodes (0 for a goal with none)."""
    means = {}
    for goal in goals:
        norms = [
            reward_norm(e.reward, min_reward=goal.min_reward, optimal_reward=goal.optimal_reward)
            for e in episodes
            if e.goal_id == goal.goal_id
        ]
        means[goal.goal_id] = sum(norms) / len(norms) if norms else 0.0
    return means


def replay(ws: Workspace, candidate: str) -> Replay:
    main = ws.main_sha()
    stats = ws.committed_stats(main)
    commit = ws.repo.resolve(archive_ref(candidate))
    if commit is None or stats is None or candidate not in stats.variants:
        raise RepoError(
            f"no archived variant `{candidate}` (no {archive_ref(candidate)} or no stats on "
            f"{ws.base}); `augnes stats --all` lists the variants"
        )
    variant = stats.variants[candidate]
    episodes = run_suite(ws, commit, variant.strategy)
    means = goal_means(episodes, ws.goals_for(ws.read_strategy(commit, variant.strategy).manifest))
    weights = {g: w for g, w in ws.suite.scored_weights().items() if g in means}
    recorded = {g: s.mean_reward_norm for g, s in variant.goals.items()}
    return Replay(
        candidate,
        commit,
        variant.strategy,
        episodes,
        means,
        benchmark_score(means, weights),
        recorded,
    )
