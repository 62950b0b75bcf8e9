"""`augnes recommend --goal G`: the best active variant for one goal."""

from __future__ import annotations

import dataclasses
import json

import click

from bot.cli import AppContext
from bot.commands.tables import table
from bot.loop import weights_of
from bot.recommend import HotCache
from bot.workspace import Workspace


def recommend_command(obj: AppContext, *, goal: str, top: int, as_json: bool) -> None:
    ws = Workspace.open(obj.root)
    ws.suite.goal(goal)
    path = ws.lineage("strategy_stats.json")
    cache = HotCache(
        version=lambda: ws.repo.resolve(f"refs/heads/{ws.base}:{path}") or "",
        load=lambda: ws.committed_stats(ws.main_sha()),
    )
    ranked = cache.recommend(goal, weights=weights_of(ws))[:top]
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(r) for r in ranked], indent=2))
        return
    if not ranked:
        click.echo(f"No active variant has been evaluated on {goal} yet: run `augnes run`.")
        return
    best = ranked[0]
    click.echo(
        f"Recommended for {goal}: {best.candidate_id} (strategy {best.strategy}, {best.status}), "
        f"score {best.score:.4f}, mean reward_norm {best.mean_reward_norm:.3f}, avg_regret {best.avg_regret:.2f}"
    )
    click.echo()
    click.echo(
        table(
            ["variant", "strategy", "status", "score", "reward_norm", "avg_regret", "uses"],
            [
                [
                    r.candidate_id,
                    r.strategy,
                    r.status,
                    r.score,
                    r.mean_reward_norm,
                    r.avg_regret,
                    r.uses,
                ]
                for r in ranked
            ],
        )
    )
