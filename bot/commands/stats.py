"""`augnes stats`: per variant and per goal numbers, or regret per goal."""

from __future__ import annotations

import json
from collections.abc import Mapping

import click

from bot.cli import AppContext
from bot.commands.tables import table
from bot.errors import LineageFileError
from bot.lineage_files import load_json
from bot.records import OperatorStats, RegretFile
from bot.workspace import Workspace


def stats_command(
    obj: AppContext,
    *,
    goal: str | None,
    regret: bool,
    show_all: bool,
    as_json: bool,
    operators: bool = False,
) -> None:
    ws = Workspace.open(obj.root)
    main = ws.main_sha()
    stats = ws.committed_stats(main)
    if stats is None:
        raise LineageFileError(
            f"{ws.lineage('strategy_stats.json')} is not on {ws.base} yet; run `augnes run` first"
        )
    if goal is not None:
        ws.suite.goal(goal)  # a clear error for an unknown goal
    if operators:
        _operators(stats.operators, as_json=as_json)
        return
    if regret:
        data = ws.repo.read_file(main, ws.lineage("regret.json")) or b"{}"
        regrets = load_json(data, RegretFile, source=ws.lineage("regret.json"))
        if as_json:
            click.echo(regrets.model_dump_json(indent=2))
            return
        rows = [
            [
                g,
                r.judgments,
                r.sum_regret,
                r.avg_regret,
                r.distribution.get("median"),
                r.distribution.get("p75"),
                " ".join(f"{v:.1f}" for v in list(r.trend.values())[-6:]),
            ]
            for g, r in regrets.goals.items()
            if goal in (None, g)
        ]
        click.echo(
            table(
                [
                    "goal",
                    "judgments",
                    "sum_regret",
                    "avg_regret",
                    "median",
                    "p75",
                    "trend (last 6 gens)",
                ],
                rows,
            )
        )
        return
    variants = sorted(stats.variants.values(), key=lambda v: (-v.selection_score, v.candidate_id))
    if not show_all:
        variants = variants[:20]
    if as_json:
        click.echo(
            json.dumps({v.candidate_id: v.model_dump(mode="json") for v in variants}, indent=2)
        )
        return
    goals = [goal] if goal else sorted({g for v in variants for g in v.goals})
    headers = [
        "variant",
        "strategy",
        "gen",
        "status",
        "uses",
        "fails",
        "mean_reward",
        "avg_adv",
        "S",
        *[f"{g}:norm" for g in goals],
        *[f"{g}:regret" for g in goals],
    ]
    rows = []
    for v in variants:
        rows.append(
            [
                v.candidate_id,
                v.strategy,
                v.generation,
                v.status,
                v.uses,
                v.fails,
                v.mean_reward,
                v.avg_advantage,
                v.selection_score,
                *[v.goals[g].mean_reward_norm if g in v.goals else None for g in goals],
                *[v.goals[g].avg_regret if g in v.goals else None for g in goals],
            ]
        )
    click.echo(table(headers, rows))
    if not show_all and len(stats.variants) > len(variants):
        click.echo(f"({len(stats.variants) - len(variants)} more; --all shows every variant)")


def _operators(records: Mapping[str, OperatorStats], *, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({k: v.model_dump() for k, v in records.items()}, indent=2))
        return
    if not records:
        click.echo("no operator has made a child yet")
        return
    click.echo(
        table(
            [
                "operator",
                "attempts",
                "made",
                "invalid",
                "duplicate",
                "cached",
                "evaluated",
                "improved",
                "merged",
                "success",
                "share",
            ],
            [
                [
                    name,
                    r.attempts,
                    r.made,
                    r.invalid,
                    r.duplicate,
                    r.cached,
                    r.evaluated,
                    r.improved,
                    r.merged,
                    f"{r.improved / r.evaluated:.0%}" if r.evaluated else "–",
                    f"{r.share:.0%}",
                ]
                for name, r in sorted(records.items(), key=lambda kv: -kv[1].share)
            ],
        )
    )
    click.echo(
        "success: evaluated children that beat their parent's benchmark_score; share: of the "
        "next children (a bandit on that record)"
    )
