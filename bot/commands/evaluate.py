"""`augnes evaluate CANDIDATE`: run an archived variant on the suite again and compare."""

from __future__ import annotations

import json

import click

from bot.cli import AppContext
from bot.commands.tables import table
from bot.reproduce import replay
from bot.workspace import Workspace


def evaluate_command(obj: AppContext, *, candidate: str, as_json: bool) -> None:
    ws = Workspace.open(obj.root, sandbox=obj.sandbox)
    result = replay(ws, candidate)
    failures = sorted({e.failure for e in result.episodes if e.failure})
    if as_json:
        click.echo(
            json.dumps(
                {
                    "candidate": result.candidate,
                    "commit": result.commit,
                    "strategy": result.strategy,
                    "goals": result.goal_means,
                    "recorded": result.recorded,
                    "benchmark_score": result.benchmark_score,
                    "failures": failures,
                },
                indent=2,
            )
        )
        return
    click.echo(
        f"{result.candidate} ({result.strategy}, {result.commit[:10]}) on suite {ws.suite.name}:"
    )
    rows = [
        [
            goal,
            result.recorded.get(goal),
            mean,
            sum(1 for e in result.episodes if e.goal_id == goal),
        ]
        for goal, mean in result.goal_means.items()
    ]
    click.echo(table(["goal", "recorded reward_norm", "now", "episodes"], rows))
    click.echo(
        f"benchmark_score {result.benchmark_score:.4f}"
        + (f"; failures: {', '.join(failures)}" if failures else "")
    )
