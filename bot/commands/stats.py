"""`augnes stats`: per variant and per goal numbers, or regret per goal."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping

import click

from bot.aggregate import aggregate
from bot.archive import meta_from_record, score_all
from bot.cli import AppContext
from bot.commands.tables import table
from bot.errors import LineageFileError
from bot.heldout import heldout_scores
from bot.lineage_files import load_json
from bot.loop_state import goal_weights, weights_of
from bot.records import OperatorStats, RegretFile, StrategyStatsFile
from bot.workspace import Workspace


def stats_command(
    obj: AppContext,
    *,
    goal: str | None,
    regret: bool,
    show_all: bool,
    as_json: bool,
    operators: bool = False,
    recompute: bool = False,
    wide: bool = False,
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
    if recompute:
        _recompute(ws, main, stats, as_json=as_json)
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
    text = table(headers, rows)
    base = 9  # the columns before the per-goal ones
    if not wide and _width(text) > WIDTH:  # regret columns go first, then reward_norm ones
        for keep in (base + len(goals), base):
            text = table(headers[:keep], [r[:keep] for r in rows])
            if _width(text) <= WIDTH:
                break
        left = len(headers) - len(text.splitlines()[0].split())
        text += (
            f"\n({left} per-goal column(s) left out to fit {WIDTH} characters: --wide shows "
            "them all, --goal GOAL one goal's)"
        )
    click.echo(text)
    if not show_all and len(stats.variants) > len(variants):
        click.echo(f"({len(stats.variants) - len(variants)} more; --all shows every variant)")


WIDTH = 120  # the table's widest line without --wide


def _width(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


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
    llm = records["llm"].llm if "llm" in records else None
    if llm is not None and llm.calls:
        click.echo()
        click.echo(
            table(
                ["llm template", "calls", "tokens", "seconds", "usable"],
                [
                    [name, t.calls, t.tokens, f"{t.seconds:.1f}", t.usable]
                    for name, t in sorted(llm.templates.items())
                ],
            )
        )
        refused = ", ".join(
            f"{k} {v}" for k, v in sorted(llm.refused.items(), key=lambda kv: -kv[1])
        )
        click.echo(
            f"llm: {llm.calls} calls, {llm.tokens} tokens, {llm.seconds:.1f} s, {llm.usable} "
            f"usable answer(s); refused: {refused or 'none'}"
        )


# fields of a variant that follow from its judgments, and how closely they are written
CHECKED = {
    "uses": 0,
    "fails": 0,
    "mean_reward": 2e-6,
    "avg_advantage": 2e-6,
    "benchmark_score": 2e-6,
    "delta_score": 2e-6,
    "selection_score": 2e-6,
    "sum_regret": 2e-4,
}


def _recompute(ws: Workspace, main: str, stats: StrategyStatsFile, *, as_json: bool) -> None:
    """Every aggregate recomputed from judgments.jsonl in one streaming pass, compared with
    the committed strategy_stats.json and regret.json; exit 1 on any difference."""
    path = ws.lineage("judgments.jsonl")
    started = time.perf_counter()
    with ws.repo.stream_file(main, path) as lines:
        agg = aggregate(lines, window=ws.config.selection.stats_window, source=path)
    meta = {cid: meta_from_record(v) for cid, v in stats.variants.items()}
    scores = score_all(
        meta,
        agg.tallies,
        baselines=agg.baselines(),
        weights=weights_of(ws),
        goal_weights=goal_weights(ws),
        strategy_goals=ws.strategy_goals(main) if ws.suite.members else None,
    )
    differences: list[str] = [*agg.problems]
    if agg.duplicates:
        differences.append(f"{path}: {agg.duplicates} judgment(s) appear more than once")
    unknown = sorted(set(agg.tallies) - set(meta))
    if unknown:
        differences.append(
            f"{path}: judgments of {len(unknown)} variant(s) that strategy_stats.json does not "
            f"list, e.g. {unknown[0]}"
        )
    heldout = heldout_scores(ws.committed_heldout(main)[1], goal_weights(ws))
    for cid, v in sorted(stats.variants.items()):
        mine = scores[cid]
        for name, tolerance in CHECKED.items():
            theirs, ours = getattr(v, name), getattr(mine, name)
            if abs(theirs - ours) > tolerance * max(1.0, abs(ours)):
                differences.append(f"{cid}: {name} is {theirs} on {ws.base}, recomputed {ours:.6g}")
        outside = heldout[cid].score if cid in heldout else None
        if outside != v.heldout_score:
            differences.append(
                f"{cid}: heldout_score is {v.heldout_score} on {ws.base}, recomputed from "
                f"{ws.lineage('heldout.jsonl')} {outside}"
            )
    regret_path = ws.lineage("regret.json")
    data = ws.repo.read_file(main, regret_path)
    recomputed = agg.regret(generation=stats.generation)
    if data is not None:
        committed = load_json(data, RegretFile, source=regret_path)
        differences += _regret_differences(committed, recomputed)
    seconds = time.perf_counter() - started
    if as_json:
        click.echo(
            json.dumps(
                {
                    "judgments": agg.judgments,
                    "variants": len(agg.tallies),
                    "seconds": round(seconds, 3),
                    "differences": differences,
                    "regret": recomputed.model_dump(mode="json"),
                },
                indent=2,
            )
        )
    else:
        for line in differences:
            click.echo(line)
        verdict = "differ" if differences else "match"
        click.echo(
            f"{agg.judgments} judgments of {len(agg.tallies)} variant(s) read in {seconds:.1f} s: "
            f"strategy_stats.json and regret.json on {ws.base} {verdict}"
            + (f" ({len(differences)} difference(s))" if differences else "")
        )
    if differences:
        raise SystemExit(1)


def _regret_differences(committed: RegretFile, recomputed: RegretFile) -> list[str]:
    out = []
    for goal in sorted(set(committed.goals) | set(recomputed.goals)):
        a, b = committed.goals.get(goal), recomputed.goals.get(goal)
        if a is None or b is None:
            out.append(
                f"regret.json: goal {goal} is only in the {'recomputed' if a is None else 'committed'} file"
            )
            continue
        if a.judgments != b.judgments or abs(a.sum_regret - b.sum_regret) > 1e-3 * max(
            1.0, abs(b.sum_regret)
        ):
            out.append(
                f"regret.json: goal {goal}: {a.judgments} judgments, sum {a.sum_regret} "
                f"committed; recomputed {b.judgments}, {b.sum_regret}"
            )
        for q, value in b.distribution.items():  # values are counted at 4 significant digits
            if abs(a.distribution.get(q, math.nan) - value) > 1e-3 * max(1.0, abs(value)):
                out.append(
                    f"regret.json: goal {goal}: {q} is {a.distribution.get(q)}, recomputed {value}"
                )
    return out
