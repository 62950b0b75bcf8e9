"""`augnes capacity sweep`."""

from __future__ import annotations

import click

from bot.cli import AppContext
from bot.commands.tables import table
from bot.commands.world_model import parse_dims
from bot.lineage_files import dump_json
from bot.sandbox import open_sandbox
from bot.workspace import Workspace
from bot.world_model.capacity import (
    CAPACITY_FILE,
    CapacityFile,
    capacity_figure,
    committed_capacity,
    summary,
    sweep,
)
from bot.world_model.store import commit_lineage

HISTORY = 20  # earlier sweeps kept in capacity.json


def sweep_command(
    obj: AppContext,
    *,
    hidden_dims: str,
    buffer_sizes: str,
    variant: str | None,
    episodes: int,
    parallel: int,
    as_json: bool,
) -> None:
    ws = Workspace.open(obj.root, sandbox=obj.sandbox)
    dims = parse_dims(hidden_dims, option="--hidden-dim")
    sizes = parse_dims(buffer_sizes, option="--buffer-size", low=100, high=1_000_000)
    sandbox = open_sandbox(ws.config.evaluation)
    try:
        result = sweep(
            ws,
            sandbox,
            hidden_dims=dims,
            buffer_sizes=sizes,
            variant=variant,
            episodes=episodes,
            parallel=parallel,
            progress=lambda line: click.echo(line, err=True),
        )
    finally:
        sandbox.close()
    main = ws.main_sha()
    prior = committed_capacity(ws, main)
    history = ([prior.latest, *prior.history] if prior else [])[:HISTORY]
    files = {
        ws.lineage(CAPACITY_FILE): dump_json(CapacityFile(latest=result, history=history)),
        ws.lineage("plots/capacity.svg"): capacity_figure(result).encode(),
    }
    stats = ws.committed_stats(main)
    if stats is not None:
        files[ws.lineage("strategy_stats.json")] = dump_json(
            stats.model_copy(update={"capacity": summary(result)})
        )
    subject = (
        f"augnes(g{result.generation:03d}): capacity sweep — {result.decision} "
        f"({result.capacity} → {result.next_capacity} hidden units)"
    )
    body = "\n".join(
        f"- hidden {e.hidden_dim} · {e.buffer_size} transitions: avg_regret {e.avg_regret}, "
        f"normalised {e.avg_regret_norm}, model nMSE {e.model_val_nmse}"
        for e in result.experiments
    )
    sha = commit_lineage(ws, files, subject=subject, body=body)
    if result.alert:
        click.echo(f"ALERT: {result.alert}", err=True)
    if as_json:
        click.echo(result.model_dump_json(indent=2))
        return
    click.echo(
        table(
            [
                "hidden",
                "transitions",
                "avg_regret",
                "regret (norm)",
                "avg_advantage",
                "model nMSE",
                "train s",
                "eval s",
            ],
            [
                [
                    e.hidden_dim,
                    e.buffer_size,
                    e.avg_regret,
                    f"{e.avg_regret_norm:.4f}",
                    f"{e.avg_advantage:+.4f}",
                    f"{e.model_val_nmse:.5f}",
                    e.train_seconds,
                    e.eval_seconds,
                ]
                for e in result.experiments
            ],
        )
    )
    click.echo(
        table(
            ["transitions", "hidden", "→", "gain per doubling"],
            [[g.buffer_size, g.from_dim, g.to_dim, f"{g.gain:+.4f}"] for g in result.gains],
        )
    )
    gain = "n/a" if result.gain_at_capacity is None else f"{result.gain_at_capacity:+.4f}"
    click.echo(
        f"decision: {result.decision} — capacity {result.capacity} → {result.next_capacity} "
        f"(gain {gain} per doubling, ε = {result.epsilon}); committed {sha[:10]} on {ws.base}"
    )
