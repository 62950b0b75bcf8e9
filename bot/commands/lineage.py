"""`augnes lineage`: the family tree as DOT, GraphML, interactive HTML and SVG."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from bot.cli import AppContext
from bot.commands.tables import table
from bot.lineage_graph import Filters, ancestors, build, summary_rows, write
from bot.workspace import Workspace


def lineage_command(
    obj: AppContext,
    *,
    out: Path,
    formats: str,
    since: int | None,
    niche: str | None,
    goal: str | None,
    candidate: str | None,
    as_json: bool,
) -> None:
    ws = Workspace.open(obj.root)
    if goal is not None:
        ws.suite.goal(goal)  # a clear error for an unknown goal
    started = time.perf_counter()
    graph = build(ws, filters=Filters(since=since, niche=niche, goal=goal))
    if candidate is not None:
        lines = ancestors(graph, candidate)
        if as_json:
            click.echo(json.dumps({"candidate": candidate, "lines": lines}, indent=2))
            return
        for n, line in enumerate(lines):
            if n:
                click.echo()
            click.echo(
                "line of descent (first parents)" if n == 0 else f"through {line[1]} (crossover)"
            )
            click.echo(
                table(
                    ["variant", "generation", "operator", "state", "score", "summary"],
                    summary_rows(graph, line),
                )
            )
        return
    names = [f.strip() for f in formats.split(",") if f.strip()]
    target = out if out.is_absolute() else obj.root / out
    written = write(graph, target, names)
    seconds = time.perf_counter() - started
    states: dict[str, int] = {}
    for _, d in graph.nodes(data=True):
        states[d["state"]] = states.get(d["state"], 0) + 1
    if as_json:
        click.echo(
            json.dumps(
                {
                    "variants": graph.number_of_nodes(),
                    "edges": graph.number_of_edges(),
                    "states": states,
                    "files": [str(p) for p in written],
                    "seconds": round(seconds, 3),
                },
                indent=2,
            )
        )
        return
    click.echo(
        f"{graph.number_of_nodes()} variants, {graph.number_of_edges()} parent edges ("
        + ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
        + f") in {seconds:.2f} s"
    )
    for path in written:
        click.echo(f"  wrote {path}")
