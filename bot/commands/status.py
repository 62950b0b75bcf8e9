"""`augnes status`: open candidates, elites per niche, and the last generation."""

from __future__ import annotations

import json
from typing import Any

import click

from bot import journal as journals
from bot.cli import AppContext
from bot.commands.tables import table
from bot.forge import PullRequest
from bot.records import StrategyStatsFile
from bot.workspace import Workspace


def _elites(stats: StrategyStatsFile | None) -> dict[str, dict[str, Any]]:
    if stats is None:
        return {}
    out = {}
    for name, cid in stats.elites.items():
        v = stats.variants[cid]
        out[name] = {
            "candidate": cid,
            "niche": v.niche,
            "selection_score": v.selection_score,
            "benchmark_score": v.benchmark_score,
        }
    return out


def _open(pulls: list[PullRequest]) -> list[dict[str, Any]]:
    return [
        {"number": p.number, "branch": p.branch, "title": p.title, "labels": p.labels}
        for p in pulls
        if p.state == "open"
    ]


def status_command(obj: AppContext, *, as_json: bool) -> None:
    ws = Workspace.open(obj.root)
    main = ws.main_sha()
    stats = ws.committed_stats(main)
    pulls = ws.forge.list_pulls()
    journal = journals.load(ws.journal_path)
    elites = _elites(stats)
    opened = _open(pulls)
    counts = {s: sum(1 for p in pulls if p.state == s) for s in ("open", "merged", "closed")}
    last = stats.generations[-1] if stats and stats.generations else None
    if as_json:
        data = {
            "base": ws.base,
            "head": main,
            "generation": stats.generation if stats else None,
            "in_progress": journal.generation if journal else None,
            "open": opened,
            "pulls": counts,
            "elites": elites,
            "last_generation": last.model_dump(mode="json") if last else None,
            "problems": ws.problems,
        }
        click.echo(json.dumps(data, indent=2))
        return
    if stats is None:
        click.echo(f"No generation has been recorded on {ws.base} yet: run `augnes run`.")
    else:
        resumable = (
            f" (generation {journal.generation} was interrupted: `augnes run` resumes it)"
            if journal
            else ""
        )
        click.echo(f"{ws.base} at {main[:10]}, generation {stats.generation}{resumable}")
        click.echo(
            f"pull requests: {counts['open']} open, {counts['merged']} merged, "
            f"{counts['closed']} closed"
        )
        click.echo()
        rows = [
            [n, e["candidate"], e["niche"], e["selection_score"], e["benchmark_score"]]
            for n, e in elites.items()
        ]
        click.echo(table(["strategy", "elite", "niche", "S", "benchmark_score"], rows))
    if last:
        click.echo()
        click.echo(
            f"last generation {last.generation}: evaluated {last.evaluated}, merged {last.merged}, "
            f"closed {last.closed}, best S {last.best_selection_score:.4f}, "
            f"best benchmark_score {last.best_benchmark_score:.4f}"
        )
    if opened:
        click.echo()
        click.echo("open candidates:")
        for p in opened:
            click.echo(f"  #{p['number']} {p['title']}  [{', '.join(p['labels'])}]")
    for problem in ws.problems:
        click.echo(f"warning: {problem}", err=True)
