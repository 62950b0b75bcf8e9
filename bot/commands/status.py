"""`augnes status`: open candidates, elites per niche, and the last generation."""

from __future__ import annotations

import json
from typing import Any

import click

from bot import journal as journals
from bot.cli import AppContext
from bot.commands.run import SHOWN_LINES
from bot.commands.tables import table
from bot.forge import PullRequest
from bot.manifest import reachable_cells
from bot.records import StrategyStatsFile
from bot.report import untrusted_text
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
            "heldout_score": v.heldout_score,
        }
    return out


def _open(pulls: list[PullRequest]) -> list[dict[str, Any]]:
    return [
        {"number": p.number, "branch": p.branch, "title": p.title, "labels": p.labels}
        for p in pulls
        if p.state == "open"
    ]


def niche_grid(ws: Workspace, stats: StrategyStatsFile | None) -> dict[str, Any]:
    """The MAP-Elites grid: per family, its complexity cells (from the manifests' bins) and
    the elite holding each, with coverage = cells held / cells possible."""
    main = ws.main_sha()
    cells: dict[str, dict[str, Any]] = {}
    for name, src in sorted(ws.strategies_on(main).items()):
        family = src.manifest.family
        row = cells.setdefault(family, {})
        for c in reachable_cells(src.manifest):
            row.setdefault(c, None)
        cid = stats.elites.get(name) if stats else None
        if cid is None or stats is None or cid not in stats.variants:
            continue
        v = stats.variants[cid]
        cell = v.niche.rsplit("/", 1)[-1]
        current = row.get(cell)
        if current is None or v.selection_score > current["selection_score"]:
            row[cell] = {
                "strategy": name,
                "candidate": cid,
                "selection_score": v.selection_score,
                "benchmark_score": v.benchmark_score,
            }
    held = sum(1 for row in cells.values() for c in row.values() if c)
    possible = sum(len(row) for row in cells.values())
    return {"families": cells, "held": held, "possible": possible}


def niches_command(obj: AppContext, *, as_json: bool) -> None:
    ws = Workspace.open(obj.root)
    grid = niche_grid(ws, ws.committed_stats(ws.main_sha()))
    if as_json:
        click.echo(json.dumps(grid, indent=2))
        return
    width = 1 + max((int(c[1:]) for row in grid["families"].values() for c in row), default=-1)
    rows = []
    for family, row in grid["families"].items():
        cells = []
        for i in range(width):
            c = row.get(f"c{i}")
            cells.append(
                f"{c['candidate']} S {c['selection_score']:.3f} b {c['benchmark_score']:.3f}"
                if c
                else ("·" if f"c{i}" in row else "")
            )
        rows.append([family, *cells])
    click.echo(table(["family", *(f"c{i}" for i in range(width))], rows))
    click.echo(
        f"coverage: {grid['held']} of {grid['possible']} niches hold an elite "
        "a family's parameters can reach (c0 … cN: complexity bins from each manifest's "
        "[niche] bins; ·: reachable and empty)"
    )


def status_command(obj: AppContext, *, as_json: bool, niches: bool = False) -> None:
    if niches:
        niches_command(obj, as_json=as_json)
        return
    ws = Workspace.open(obj.root)
    main = ws.main_sha()
    scored = ws.strategies_on(main)  # (a folder that cannot be read is listed below)
    stats = ws.committed_stats(main)
    pulls = ws.forge.list_pulls()
    journal = journals.load(ws.journal_path)
    everyone = _elites(stats)
    # a strategy of another suite has no score in this one: named apart, not as 0.0000
    elites = {n: e for n, e in everyone.items() if n in scored}
    elsewhere = sorted(set(everyone) - set(elites))
    opened = _open(pulls)
    counts = {s: sum(1 for p in pulls if p.state == s) for s in ("open", "merged", "closed")}
    last = stats.generations[-1] if stats and stats.generations else None
    elite_ids = {e["candidate"] for e in elites.values()}
    failed = {  # the last generation's variants and the elites whose episodes failed, and why
        cid: v.failure
        for cid, v in sorted((stats.variants if stats else {}).items())
        if v.failure
        and (cid in elite_ids or (last is not None and v.generation == last.generation))
    }
    if as_json:
        data = {
            "base": ws.base,
            "head": main,
            "generation": stats.generation if stats else None,
            "in_progress": journal.generation if journal else None,
            "open": opened,
            "pulls": counts,
            "elites": elites,
            "not_in_suite": elsewhere,
            "last_generation": last.model_dump(mode="json") if last else None,
            "problems": ws.problems,
            "failures": failed,
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
            [
                n,
                e["candidate"],
                e["niche"],
                e["selection_score"],
                e["benchmark_score"],
                e["heldout_score"],
            ]
            for n, e in elites.items()
        ]
        click.echo(table(["strategy", "elite", "niche", "S", "benchmark_score", "held-out"], rows))
        if elsewhere:
            click.echo(
                f"not scored in suite {ws.suite.name} (their manifests name other suites, or "
                f"their folders are gone): {', '.join(elsewhere)}"
            )
        click.echo(
            "held-out: benchmark_score on the suite's held-out seeds, which no selection reads"
        )
    if last:
        click.echo()
        click.echo(
            f"last generation {last.generation}: evaluated {last.evaluated}, merged {last.merged}, "
            f"closed {last.closed}, best S {last.best_selection_score:.4f}, "
            f"best benchmark_score {last.best_benchmark_score:.4f}"
            + (
                f" (held-out {last.best_heldout_score:.4f})"
                if last.best_heldout_score is not None
                else ""
            )
        )
    for cid, reason in failed.items():
        lines = untrusted_text(reason).splitlines()
        click.echo(f"  {cid}: episodes failed; the worker's last words:")
        for line in lines[-SHOWN_LINES:]:
            click.echo(f"    | {line}")
    if opened:
        click.echo()
        click.echo("open candidates:")
        for p in opened:
            click.echo(f"  #{p['number']} {p['title']}  [{', '.join(p['labels'])}]")
    for problem in ws.problems:
        click.echo(f"warning: {problem}", err=True)
