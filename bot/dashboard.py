"""A static dashboard built from `lineage/` alone: one self-contained `index.html` (inline
SVG, no script from anywhere, no server), publishable on GitHub Pages, and `data.json`.

Panels: best S and benchmark_score by generation, regret per goal by generation, the world
model's error, the capacity curves, operator success, the lineage graph and the leaderboard.
A panel whose file does not exist yet says which command makes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import networkx as nx

from bot.lineage_files import load_json
from bot.lineage_graph import to_svg
from bot.plots import Panel, figure
from bot.records import RegretFile, StrategyStatsFile
from bot.report import untrusted_text
from bot.workspace import Workspace
from bot.world_model.capacity import CapacityFile, capacity_figure
from bot.world_model.store import WorldModelStatsFile

PANELS = ("scores", "regret", "world-model", "capacity", "operators", "lineage", "leaderboard")


@dataclass
class Lineage:
    """The lineage files, as bytes by name (from a folder or from a commit)."""

    files: Mapping[str, bytes]
    source: str

    def load(self, name: str, model: type[Any]) -> Any:
        raw = self.files.get(name)
        return None if raw is None else load_json(raw, model, source=f"{self.source}/{name}")


FILES = ("strategy_stats.json", "regret.json", "world_model_stats.json", "capacity.json")


def from_folder(folder: Path) -> Lineage:
    return Lineage(
        {n: (folder / n).read_bytes() for n in FILES if (folder / n).is_file()}, str(folder)
    )


def from_branch(ws: Workspace) -> Lineage:
    """The lineage files as committed on the base branch."""
    main = ws.main_sha()
    found = {n: ws.repo.read_file(main, ws.lineage(n)) for n in FILES}
    return Lineage(
        {n: data for n, data in found.items() if data is not None},
        f"{ws.base}:{ws.config.lineage_dir}",
    )


def build_site(lineage: Lineage, out: Path) -> list[Path]:
    stats: StrategyStatsFile | None = lineage.load("strategy_stats.json", StrategyStatsFile)
    if stats is None:
        from bot.errors import LineageFileError

        raise LineageFileError(
            f"{lineage.source}/strategy_stats.json is missing: run a generation first"
        )
    regret: RegretFile | None = lineage.load("regret.json", RegretFile)
    models: WorldModelStatsFile | None = lineage.load("world_model_stats.json", WorldModelStatsFile)
    capacity: CapacityFile | None = lineage.load("capacity.json", CapacityFile)
    # a panel with no data yet is left out; a line at the end says which command makes it
    later = [
        what
        for what, absent in (
            (_missing("world model", "augnes world-model sample && augnes world-model train"),
             models is None or not models.models),
            (_missing("capacity sweep", "augnes capacity sweep"), capacity is None),
        )
        if absent
    ]  # fmt: skip
    sections = [
        _section("scores", "Best S and benchmark_score by generation", _scores(stats)),
        _section("regret", "Regret per goal by generation", _regret(regret)),
        *(
            [_section("world-model", "World-model error", _world_model(models))]
            if models is not None and models.models
            else []
        ),
        *(
            [_section("capacity", "Capacity experiments", _capacity(capacity))]
            if capacity is not None
            else []
        ),
        _section("operators", "Operator success", _operators(stats)),
        _section("lineage", "Lineage", _lineage(stats)),
        _section("leaderboard", "Leaderboard", _leaderboard(stats)),
    ]
    if failures := _failures(stats):  # only when the last generation had any
        sections.append(_section("failures", "Why episodes failed", failures))
    sections += later
    last = stats.generations[-1] if stats.generations else None
    head = (
        f"generation {stats.generation} · {len(stats.variants)} variants · best S "
        f"{last.best_selection_score:.4f} · best benchmark_score {last.best_benchmark_score:.4f}"
        if last
        else f"generation {stats.generation}"
    )
    html = PAGE.format(head=escape(head), sections="\n".join(sections))
    out.mkdir(parents=True, exist_ok=True)
    index = out / "index.html"
    index.write_text(html, encoding="utf-8")
    data = out / "data.json"
    data.write_text(
        json.dumps(
            {
                "generation": stats.generation,
                "generations": [g.model_dump(mode="json") for g in stats.generations],
                "operators": {k: v.model_dump() for k, v in stats.operators.items()},
                "regret": regret.model_dump(mode="json") if regret else None,
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    (out / ".nojekyll").write_text("", encoding="utf-8")  # GitHub Pages: serve as is
    return [index, data]


def _section(key: str, title: str, body: str) -> str:
    return f'<section class="panel" id="{key}"><h2>{escape(title)}</h2>\n{body}\n</section>'


def _missing(what: str, command: str) -> str:
    return f'<p class="missing">No {escape(what)} yet: <code>{escape(command)}</code> makes it.</p>'


def _scores(stats: StrategyStatsFile) -> str:
    gens = stats.generations
    if not gens:
        return _missing("generation", "augnes run")
    panel = Panel(
        "best S and benchmark_score",
        "generation",
        "score",
        [
            ("best S", [(float(g.generation), g.best_selection_score) for g in gens]),
            ("best benchmark_score", [(float(g.generation), g.best_benchmark_score) for g in gens]),
            (
                "its held-out benchmark_score",
                [
                    (float(g.generation), g.best_heldout_score)
                    for g in gens
                    if g.best_heldout_score is not None
                ],
            ),
        ],
    )
    return figure([panel], columns=1)


def _regret(regret: RegretFile | None) -> str:
    if regret is None or not regret.goals:
        return _missing("regret file", "augnes run")
    panels = [
        Panel(
            goal,
            "generation",
            "avg regret",
            [("", [(float(g), v) for g, v in sorted(r.trend.items(), key=lambda t: int(t[0]))])],
        )
        for goal, r in sorted(regret.goals.items())
    ]
    return figure(panels, columns=2)


def _world_model(models: WorldModelStatsFile | None) -> str:
    if models is None or not models.models:
        return _missing("world model", "augnes world-model sample && augnes world-model train")
    goals = sorted({r.goal_id for r in models.models.values()})
    series = [
        (
            goal,
            sorted(
                (float(r.hidden_dim), r.val_nmse)
                for r in models.models.values()
                if r.goal_id == goal
            ),
        )
        for goal in goals
    ]
    chart = figure(
        [Panel("validation nMSE by hidden units", "hidden units", "nMSE", series, log2_x=True)],
        columns=1,
    )
    rows = "".join(
        f"<tr><td>{escape(g)}</td><td>{r.hidden_dim}</td><td>{r.buffer_size}</td>"
        f"<td>{r.val_nmse:.5f}</td><td>{r.linear_nmse:.5f}</td><td>{r.zero_nmse:.3f}</td>"
        f"<td>{r.seconds:.1f}</td></tr>"
        for g, r in sorted(models.goals.items())
    )
    table = (
        "<table><tr><th>goal</th><th>hidden</th><th>transitions</th><th>val nMSE</th>"
        f"<th>linear nMSE</th><th>Δs=0 nMSE</th><th>seconds</th></tr>{rows}</table>"
    )
    return chart + table


def _capacity(capacity: CapacityFile | None) -> str:
    if capacity is None:
        return _missing("capacity sweep", "augnes capacity sweep")
    latest = capacity.latest
    verdict = (
        f"<p>decision: <b>{escape(latest.decision)}</b> — capacity {latest.capacity} → "
        f"{latest.next_capacity}"
        + (f" · alert: {escape(latest.alert)}" if latest.alert else "")
        + "</p>"
    )
    return verdict + capacity_figure(latest)


def _operators(stats: StrategyStatsFile) -> str:
    if not stats.operators:
        return _missing("operator record", "augnes run")
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{r.made}</td><td>{r.invalid}</td><td>{r.duplicate}</td>"
        f"<td>{r.evaluated}</td><td>{r.improved}</td><td>{r.merged}</td>"
        f"<td>{(r.improved / r.evaluated if r.evaluated else 0):.0%}</td><td>{r.share:.0%}</td></tr>"
        for name, r in sorted(stats.operators.items(), key=lambda kv: -kv[1].share)
    )
    return (
        "<table><tr><th>operator</th><th>made</th><th>invalid</th><th>duplicate</th>"
        "<th>evaluated</th><th>improved</th><th>merged</th><th>success</th><th>share</th></tr>"
        f"{rows}</table><p>success: evaluated children that beat their parent's "
        "benchmark_score; share: of the next children, by a bandit on that record</p>"
    )


def _lineage(stats: StrategyStatsFile) -> str:
    graph = nx.DiGraph()
    for cid, v in stats.variants.items():
        if v.status == "elite":
            state = "elite"
        elif v.status == "deferred":
            state = "deferred"
        elif not v.parents:
            state = "seed"
        elif v.decision.startswith("merged"):
            state = "merged"
        else:
            state = "closed"
        graph.add_node(
            cid,
            generation=v.generation,
            operator=v.operator,
            state=state,
            score=v.benchmark_score,
            summary=v.summary[:120],
            strategy=v.strategy,
        )
    for cid, v in stats.variants.items():
        for p in v.parents:
            if p in graph:
                graph.add_edge(p, cid)
    return f'<div class="scroll">{to_svg(graph)}</div>'


def _leaderboard(stats: StrategyStatsFile) -> str:
    best = sorted(
        (v for v in stats.variants.values() if v.status != "archived"),
        key=lambda v: -v.selection_score,
    )[:20]
    rows = "".join(
        f"<tr><td><code>{escape(v.candidate_id)}</code></td><td>{escape(v.strategy)}</td>"
        f"<td>{escape(v.status)}</td><td>{v.selection_score:.4f}</td>"
        f"<td>{v.benchmark_score:.4f}</td><td>{_maybe(v.heldout_score)}</td>"
        f"<td>{v.avg_regret:.2f}</td><td>{v.generation}</td></tr>"
        for v in best
    )
    return (
        "<table><tr><th>variant</th><th>strategy</th><th>status</th><th>S</th>"
        "<th>benchmark_score</th><th>held-out</th><th>avg_regret</th><th>generation</th></tr>"
        f"{rows}</table><p>held-out: benchmark_score on the suite's held-out seeds, which no "
        "selection reads (evaluated when a variant becomes an elite)</p>"
    )


def _failures(stats: StrategyStatsFile) -> str:
    """The last generation's variants whose episodes failed, with their workers' words
    (untrusted text: escaped, in <pre>)."""
    return "".join(
        f"<h3><code>{escape(v.candidate_id)}</code> ({escape(v.strategy)})</h3>"
        f"<pre>{escape(untrusted_text(v.failure))}</pre>"
        for _, v in sorted(stats.variants.items())
        if v.failure and v.generation == stats.generation
    )


def _maybe(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Augnes dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:sans-serif;margin:0;background:#fafafa;color:#222}}
header{{padding:12px 20px;background:#24292f;color:#fff}} header p{{margin:4px 0 0;opacity:.8}}
main{{display:flex;flex-wrap:wrap;gap:16px;padding:16px}}
section.panel{{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 12px;
  max-width:100%;overflow:auto}}
h2{{font-size:16px;margin:6px 0 10px}} table{{border-collapse:collapse;font-size:13px;margin:8px 0}}
td,th{{border-bottom:1px solid #eee;padding:3px 8px;text-align:left}}
.missing{{color:#888;font-style:italic}} .scroll{{max-width:1100px;max-height:520px;overflow:auto}}
</style></head><body>
<header><b>Augnes dashboard</b><p>{head}</p></header>
<main>
{sections}
</main></body></html>
"""
