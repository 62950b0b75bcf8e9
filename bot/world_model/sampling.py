"""Collect transitions by rolling out chosen variants in the sandbox. The rows come from the
trusted evaluator's own stepping of the environments (`Session(transitions=...)`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.candidates import archive_ref
from bot.errors import RepoError
from bot.evaluator import EnvPool, Transitions, strategy_session
from bot.sandbox import Sandbox
from bot.workspace import Workspace
from bot.world_model.buffer import load_buffer, save_buffer

SAMPLE_SEED = 50_000_000  # far from every suite's evaluation seeds
MAX_BATCH = 64  # episodes of one goal per round
MAX_ROUNDS = 1000


@dataclass(frozen=True)
class Sampled:
    goal_id: str
    added: int
    size: int
    episodes: int
    variants: tuple[str, ...]


def transitions_dir(ws: Workspace) -> Path:
    return ws.repo.state_dir / "world_model" / "transitions"


def default_variants(ws: Workspace) -> list[str]:
    """Every strategy's elite on the base branch."""
    stats = ws.committed_stats(ws.main_sha())
    if stats is None or not stats.elites:
        raise RepoError(
            "no elites on the base branch yet: run a generation first (`augnes run`), or name "
            "variants with --variant"
        )
    return sorted(stats.elites.values())


def sample(
    ws: Workspace,
    sandbox: Sandbox,
    *,
    per_goal: int,
    capacity: int,
    variants: Sequence[str] | None = None,
    goals: Sequence[str] | None = None,
    fresh: bool = False,
    progress: Callable[[str], None] = lambda line: None,
) -> list[Sampled]:
    """Add about `per_goal` new transitions to each goal's buffer (the newest `capacity`
    are kept), spread over `variants` (default: the elites)."""
    chosen = list(variants or default_variants(ws))
    stats = ws.committed_stats(ws.main_sha())
    folder = transitions_dir(ws)
    wanted = [
        g for g in ws.suite.goals if g.kind == "gymnasium" and (not goals or g.goal_id in goals)
    ]
    if goals and len(wanted) != len(set(goals)):
        unknown = sorted(set(goals) - {g.goal_id for g in ws.suite.goals})
        raise RepoError(f"unknown goal(s) {', '.join(unknown)} in suite {ws.suite.name}")
    rows = {g.goal_id: Transitions() for g in wanted}
    episodes = dict.fromkeys(rows, 0)
    pool = EnvPool()
    try:
        for n, cid in enumerate(chosen):
            commit = ws.repo.resolve(archive_ref(cid))
            if commit is None or stats is None or cid not in stats.variants:
                raise RepoError(f"no archived variant `{cid}`; `augnes stats --all` lists them")
            strategy = stats.variants[cid].strategy
            share = math.ceil(per_goal / len(chosen))
            own = {g.goal_id for g in ws.goals_for(ws.read_strategy(commit, strategy).manifest)}
            mine = [g for g in wanted if g.goal_id in own]  # the goals its suites hold
            with strategy_session(
                ws, sandbox, commit, strategy, pool=pool, transitions=rows
            ) as session:
                start = {g.goal_id: len(rows[g.goal_id].obs) for g in mine}
                played = dict.fromkeys(start, 0)
                for _ in range(MAX_ROUNDS):  # an episode gives at least one row
                    plan = []
                    for g in mine:
                        got = len(rows[g.goal_id].obs) - start[g.goal_id]
                        missing = share - got
                        if missing <= 0:
                            continue
                        # episodes as long as this variant's so far (the cap at first)
                        length = got / played[g.goal_id] if played[g.goal_id] else g.max_steps
                        count = min(MAX_BATCH, max(1, math.ceil(missing / max(1.0, length))))
                        first = SAMPLE_SEED + 100_000 * n + played[g.goal_id]
                        plan.append((g, list(range(first, first + count)), 0))
                        played[g.goal_id] += count
                        episodes[g.goal_id] += count
                    if not plan:
                        break
                    session.run(plan)
            progress(f"sampled {cid} ({strategy})")
    finally:
        pool.close()
    out = []
    for g in wanted:
        buffer = load_buffer(folder, g.goal_id)
        if fresh:
            buffer = type(buffer).empty(g.goal_id)
        added = buffer.add(rows[g.goal_id], capacity=capacity)
        save_buffer(folder, buffer)
        out.append(Sampled(g.goal_id, added, len(buffer), episodes[g.goal_id], tuple(chosen)))
    return out
