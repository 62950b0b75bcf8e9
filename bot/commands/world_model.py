"""`augnes world-model sample | train | show`."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from bot.cli import AppContext
from bot.commands.tables import table
from bot.errors import ConfigError
from bot.sandbox import open_sandbox
from bot.workspace import Workspace
from bot.world_model.sampling import sample
from bot.world_model.store import (
    ModelRecord,
    commit_lineage,
    committed_stats,
    lineage_files,
    train_goal,
)


def parse_dims(text: str, *, option: str, low: int = 2, high: int = 4096) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{option} {text!r}: give comma-separated whole numbers") from None
    if not values or any(v < low or v > high for v in values):
        raise ConfigError(f"{option} {text!r}: each value must lie in {low}…{high}")
    return sorted(set(values))


def _goals(ws: Workspace, goals: Sequence[str]) -> list[str]:
    known = [g.goal_id for g in ws.suite.goals]
    unknown = sorted(set(goals) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown goal(s) {', '.join(unknown)}; suite {ws.suite.name} has {', '.join(known)}"
        )
    return [g for g in known if not goals or g in goals]


def sample_command(
    obj: AppContext,
    *,
    transitions: int | None,
    variants: Sequence[str],
    goals: Sequence[str],
    fresh: bool,
) -> None:
    ws = Workspace.open(obj.root, sandbox=obj.sandbox)
    wm = ws.config.world_model
    sandbox = open_sandbox(ws.config.evaluation)
    try:
        done = sample(
            ws,
            sandbox,
            per_goal=transitions or wm.transitions,
            capacity=wm.buffer_size,
            variants=list(variants) or None,
            goals=_goals(ws, goals),
            fresh=fresh,
            progress=lambda line: click.echo(line, err=True),
        )
    finally:
        sandbox.close()
    click.echo(
        table(
            ["goal", "new transitions", "episodes", "buffer"],
            [[s.goal_id, s.added, s.episodes, s.size] for s in done],
        )
    )


def train_command(
    obj: AppContext, *, hidden_dims: str | None, goals: Sequence[str], as_json: bool
) -> None:
    ws = Workspace.open(obj.root)
    dims = (
        parse_dims(hidden_dims, option="--hidden-dim")
        if hidden_dims
        else [ws.config.world_model.hidden_dim]
    )
    main = ws.main_sha()
    stats = ws.committed_stats(main)
    generation = stats.generation if stats else 0
    trained = []
    for goal in _goals(ws, goals):
        for dim in dims:
            record, data, _ = train_goal(ws, goal, dim, generation=generation)
            trained.append((record, data))
            if not as_json:
                click.echo(
                    f"{goal} h{dim}: val nMSE {record.val_nmse:.5f} (linear "
                    f"{record.linear_nmse:.5f}, Δs=0 {record.zero_nmse:.3f}), "
                    f"{record.epochs} epochs, {record.seconds:.1f} s",
                    err=True,
                )
    prior = committed_stats(ws, main)
    files = lineage_files(ws, prior, trained, generation=generation)
    subject = f"augnes(g{generation:03d}): world model — {len(trained)} model(s) trained"
    body = "\n".join(
        f"- {r.goal_id} h{r.hidden_dim}: val_nmse {r.val_nmse} (linear {r.linear_nmse}, "
        f"zero {r.zero_nmse}); {r.buffer_size} transitions; {r.seconds} s"
        for r, _ in trained
    )
    sha = commit_lineage(ws, files, subject=subject, body=body)
    records = [r for r, _ in trained]
    if as_json:
        click.echo(json.dumps([r.model_dump() for r in records], indent=2))
        return
    click.echo(_table(records))
    click.echo(f"committed {sha[:10]} on {ws.base}: {ws.lineage('world_model_stats.json')}")


def _table(records: Sequence[ModelRecord]) -> str:
    return table(
        [
            "goal",
            "hidden",
            "transitions",
            "epochs",
            "val MSE",
            "val nMSE",
            "linear nMSE",
            "Δs=0 nMSE",
            "seconds",
        ],
        [
            [
                r.goal_id,
                r.hidden_dim,
                r.buffer_size,
                r.epochs,
                f"{r.val_mse:.3g}",
                f"{r.val_nmse:.5f}",
                f"{r.linear_nmse:.5f}",
                f"{r.zero_nmse:.3f}",
                r.seconds,
            ]
            for r in records
        ],
    )


def show_command(obj: AppContext, *, as_json: bool) -> None:
    ws = Workspace.open(obj.root)
    stats = committed_stats(ws, ws.main_sha())
    if stats is None:
        raise ConfigError(
            f"no {ws.lineage('world_model_stats.json')} on {ws.base} yet: "
            "`augnes world-model sample`, then `augnes world-model train`"
        )
    if as_json:
        click.echo(stats.model_dump_json(indent=2))
        return
    click.echo(_table(list(stats.models.values())))
