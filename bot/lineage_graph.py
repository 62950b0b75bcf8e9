"""The family tree as a NetworkX graph, built from git alone.

Nodes are the archived variants (`refs/augnes/archive/*`); their commits' `Augnes-*`
trailers give generation, operator and parents (a person's commit on a bot branch, which has
none, is the child of the candidate commit it was made on). Whether a variant's commit is
on the base branch tells merged from closed; `lineage/strategy_stats.json` and
`deferred_strategies.jsonl` on the base branch, also in git, give elites, deferrals, niches
and scores. Everything is read with a handful of git processes, whatever the archive's size.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import networkx as nx

from bot.errors import RepoError
from bot.workspace import Workspace

STATES = ("elite", "merged", "closed", "deferred", "seed")
COLOURS = {
    "elite": "#2ca02c",
    "merged": "#1f77b4",
    "closed": "#b0b0b0",
    "deferred": "#ff7f0e",
    "seed": "#9467bd",
}
ARCHIVE = "refs/augnes/archive/"


@dataclass(frozen=True)
class Filters:
    since: int | None = None  # generations from this one on (their ancestors kept as context)
    niche: str | None = None
    goal: str | None = None  # size nodes by this goal's reward_norm


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if done.returncode:
        raise RepoError(f"git {' '.join(args[:2])} failed: {done.stderr.strip()[:300]}")
    return done.stdout


def build(ws: Workspace, *, filters: Filters = Filters()) -> nx.DiGraph:
    root = ws.repo.root
    raw = _git(
        root,
        "for-each-ref",
        ARCHIVE,
        "--format=%(refname:lstrip=3)%00%(objectname)%00%(parent)%00%(trailers:only,unfold)%1e",
    )
    records = []
    by_sha: dict[str, str] = {}
    for chunk in raw.split("\x1e"):
        chunk = chunk.strip("\n")
        if not chunk:
            continue
        cid, sha, git_parents, trailers = chunk.split("\x00")
        pairs = [line.split(": ", 1) for line in trailers.splitlines() if ": " in line]
        records.append((cid, sha, git_parents.split(), pairs))
        by_sha.setdefault(sha, cid)
    main = ws.main_sha()
    on_main = set(_git(root, "rev-list", main).split())
    stats = ws.committed_stats(main)
    variants = stats.variants if stats else {}
    elites = set(stats.elites.values()) if stats else set()
    _, deferrals = ws.committed_deferrals(main)
    deferred = {
        d.variant for d in deferrals if d.until_generation > (stats.generation if stats else 0)
    }
    graph = nx.DiGraph()
    for cid, sha, commit_parents, pairs in records:
        trailer: dict[str, list[str]] = {}
        for key, value in pairs:
            trailer.setdefault(key, []).append(value.strip())
        v = variants.get(cid)
        parents = trailer.get("Augnes-Parent") or (
            [by_sha[p] for p in commit_parents if p in by_sha and by_sha[p] != cid]
            if v is not None and v.operator == "human"
            else list(v.parents)
            if v is not None
            else []
        )
        generation = int(trailer.get("Augnes-Generation", [v.generation if v else 0])[0])
        operator = trailer.get("Augnes-Operator", [v.operator if v else "seed"])[0]
        if cid in elites:
            state = "elite"
        elif cid in deferred:
            state = "deferred"
        elif not parents:
            state = "seed"
        elif sha in on_main:
            state = "merged"
        else:
            state = "closed"
        score = v.benchmark_score if v else 0.0
        if filters.goal and v is not None:
            goal = v.goals.get(filters.goal)
            score = goal.mean_reward_norm if goal else 0.0
        graph.add_node(
            cid,
            commit=sha,
            generation=generation,
            operator=operator,
            state=state,
            strategy=v.strategy if v else "",
            niche=v.niche if v else "",
            score=round(float(score), 6),
            selection_score=round(v.selection_score, 6) if v else 0.0,
            summary=(v.summary if v else "")[:200],
        )
        for p in parents:
            graph.add_edge(p, cid)
    for cid in list(graph.nodes):
        if "commit" not in graph.nodes[cid]:  # a parent whose archive ref is gone
            graph.nodes[cid].update(
                commit="",
                generation=0,
                operator="?",
                state="closed",
                strategy="",
                niche="",
                score=0.0,
                selection_score=0.0,
                summary="not in the archive",
            )
    return _filtered(graph, filters)


def _filtered(graph: nx.DiGraph, filters: Filters) -> nx.DiGraph:
    keep = [
        n
        for n, d in graph.nodes(data=True)
        if (filters.since is None or d["generation"] >= filters.since)
        and (filters.niche is None or d["niche"] == filters.niche)
    ]
    if filters.since is None and filters.niche is None:
        return graph
    context = set(keep)
    for n in keep:  # the parents that lead into the view stay as context
        context.update(graph.predecessors(n))
    return graph.subgraph(context).copy()


def ancestors(graph: nx.DiGraph, candidate: str) -> list[list[str]]:
    """Lines of descent from `candidate` back to a seed, first parents first: the first
    line follows first parents; further lines branch off at crossovers."""
    if candidate not in graph:
        raise RepoError(f"{candidate} is not in the archive (no {ARCHIVE}{candidate})")
    lines: list[list[str]] = []
    todo = [[candidate]]
    while todo and len(lines) < 20:
        line = todo.pop(0)
        while True:
            parents = sorted(graph.predecessors(line[-1]), key=lambda p: p not in line)
            parents = [p for p in parents if p not in line]
            if not parents:
                break
            for other in parents[1:]:
                todo.append([*line, other])
            line.append(parents[0])
        lines.append(line)
    return lines


# ---- layout and writers ---------------------------------------------------------------------
def layout(graph: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """x by generation, y by order within a generation (strategy, then score)."""
    columns: dict[int, list[str]] = {}
    for n, d in graph.nodes(data=True):
        columns.setdefault(int(d["generation"]), []).append(n)
    positions = {}
    for g, names in columns.items():
        names.sort(key=lambda n: (graph.nodes[n]["strategy"], -graph.nodes[n]["score"], n))
        for i, n in enumerate(names):
            positions[n] = (60.0 + 90.0 * g, 40.0 + 22.0 * i)
    return positions


def _radius(score: float) -> float:
    return 4.0 + 8.0 * max(0.0, min(1.0, score))


def to_dot(graph: nx.DiGraph) -> str:
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [shape=circle, style=filled, label=""];']
    for n, d in sorted(graph.nodes(data=True)):
        tooltip = f"{n} g{d['generation']} {d['operator']} {d['state']} {d['score']:.3f}"
        lines.append(
            f'  "{n}" [fillcolor="{COLOURS[d["state"]]}", width={_radius(d["score"]) / 36:.3f}, '
            f'tooltip="{_dot_escape(tooltip)}", xlabel="{n}"];'
        )
    for a, b in sorted(graph.edges):
        lines.append(f'  "{a}" -> "{b}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


GRAPHML_KEYS = (
    ("commit", "string"),
    ("generation", "int"),
    ("operator", "string"),
    ("state", "string"),
    ("strategy", "string"),
    ("niche", "string"),
    ("score", "double"),
    ("selection_score", "double"),
    ("summary", "string"),
)


def to_graphml(graph: nx.DiGraph, path: Path) -> None:
    """GraphML written directly (networkx's writer builds an element tree: ten times
    slower on a large archive); networkx and yEd read it back."""
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
        'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">',
    ]
    out += [
        f'<key id="{name}" for="node" attr.name="{name}" attr.type="{kind}"/>'
        for name, kind in GRAPHML_KEYS
    ]
    out.append('<graph edgedefault="directed">')
    for n, d in graph.nodes(data=True):
        data = "".join(
            f'<data key="{name}">{escape(str(d[name]), quote=False)}</data>'
            for name, _ in GRAPHML_KEYS
            if name in d
        )
        out.append(f'<node id="{escape(n)}">{data}</node>')
    out += [f'<edge source="{escape(a)}" target="{escape(b)}"/>' for a, b in graph.edges]
    out.append("</graph></graphml>")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def to_svg(graph: nx.DiGraph) -> str:
    pos = layout(graph)
    width = max(max((x for x, _ in pos.values()), default=0) + 120, 420)  # the legend fits
    height = max((y for _, y in pos.values()), default=0) + 60
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="9">',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>',
    ]
    for a, b in graph.edges:
        (x1, y1), (x2, y2) = pos[a], pos[b]
        out.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#ccc"/>')
    for n, d in graph.nodes(data=True):
        x, y = pos[n]
        out.append(
            f'<circle class="node {d["state"]}" data-id="{n}" cx="{x:.1f}" cy="{y:.1f}" '
            f'r="{_radius(d["score"]):.1f}" fill="{COLOURS[d["state"]]}"><title>'
            f"{escape(n)} · g{d['generation']} · {escape(d['operator'])} · {d['state']} · "
            f"{d['score']:.3f} · {escape(d['summary'])}</title></circle>"
        )
        if d["state"] == "elite":  # an elite's id and score stay readable without hovering
            out.append(
                f'<text class="label" x="{x + _radius(d["score"]) + 3:.1f}" y="{y - 4:.1f}">'
                f"{escape(n)} {d['score']:.3f}</text>"
            )
    out += _legend(12, height - 16)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _legend(x: float, y: float) -> list[str]:
    out = []
    for i, state in enumerate(STATES):
        cx = x + i * 80
        out.append(
            f'<circle cx="{cx + 5:.0f}" cy="{y:.0f}" r="5" fill="{COLOURS[state]}"/>'
            f'<text x="{cx + 14:.0f}" y="{y + 3:.0f}">{state}</text>'
        )
    return out


HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Augnes lineage</title>
<style>
body{{font-family:sans-serif;margin:0}} header{{padding:8px 12px;background:#f4f4f4}}
#info{{padding:6px 12px;min-height:1.4em;font-size:13px}} svg{{display:block;cursor:grab}}
circle.dim{{opacity:.15}} line.dim{{opacity:.1}} line.lit{{stroke:#d62728;stroke-width:2}}
</style></head><body>
<header><b>Augnes lineage</b> — {count} variants, {edges} parent edges. Drag to pan, wheel
to zoom, click a variant to light its ancestry.</header>
<div id="info"></div>
{svg}
<script id="graph" type="application/json">{data}</script>
<script>
const svg=document.querySelector("svg"), info=document.getElementById("info");
const data=JSON.parse(document.getElementById("graph").textContent);
const parents={{}}; for(const [a,b] of data.edges){{(parents[b]=parents[b]||[]).push(a);}}
let view=svg.viewBox.baseVal, drag=null;
svg.addEventListener("wheel",e=>{{e.preventDefault();const k=e.deltaY>0?1.15:1/1.15;
  view.x+=(e.offsetX/svg.clientWidth)*view.width*(1-k);view.y+=(e.offsetY/svg.clientHeight)*view.height*(1-k);
  view.width*=k;view.height*=k;}});
svg.addEventListener("mousedown",e=>{{drag=[e.clientX,e.clientY];}});
window.addEventListener("mouseup",()=>{{drag=null;}});
window.addEventListener("mousemove",e=>{{if(!drag)return;const s=view.width/svg.clientWidth;
  view.x-=(e.clientX-drag[0])*s;view.y-=(e.clientY-drag[1])*s;drag=[e.clientX,e.clientY];}});
svg.addEventListener("click",e=>{{const id=e.target.dataset&&e.target.dataset.id;if(!id)return;
  const lit=new Set([id]);const todo=[id];while(todo.length){{for(const p of parents[todo.pop()]||[])
  if(!lit.has(p)){{lit.add(p);todo.push(p);}}}}
  for(const c of svg.querySelectorAll("circle.node"))c.classList.toggle("dim",!lit.has(c.dataset.id));
  const n=data.nodes[id];info.textContent=id+" · generation "+n.generation+" · "+n.operator+" · "+n.state+
  " · score "+n.score.toFixed(3)+" · "+n.summary+" · ancestors: "+(lit.size-1);}});
</script></body></html>
"""


def to_html(graph: nx.DiGraph) -> str:
    data = {
        "nodes": {
            n: {k: d[k] for k in ("generation", "operator", "state", "score", "summary")}
            for n, d in graph.nodes(data=True)
        },
        "edges": sorted(graph.edges),
    }
    return HTML.format(
        count=graph.number_of_nodes(),
        edges=graph.number_of_edges(),
        svg=to_svg(graph).replace('<svg xmlns="http://www.w3.org/2000/svg" ', '<svg id="tree" ', 1),
        data=json.dumps(data).replace("</", "<\\/"),
    )


def write(graph: nx.DiGraph, folder: Path, formats: Iterable[str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = folder / f"lineage.{fmt}"
        if fmt == "dot":
            path.write_text(to_dot(graph), encoding="utf-8")
        elif fmt == "graphml":
            to_graphml(graph, path)
        elif fmt == "svg":
            path.write_text(to_svg(graph), encoding="utf-8")
        elif fmt == "html":
            path.write_text(to_html(graph), encoding="utf-8")
        else:
            raise RepoError(f"unknown format {fmt!r}: choose from dot, graphml, html, svg")
        written.append(path)
    return written


def summary_rows(graph: nx.DiGraph, line: Sequence[str]) -> list[list[Any]]:
    return [
        [
            n,
            graph.nodes[n]["generation"],
            graph.nodes[n]["operator"],
            graph.nodes[n]["state"],
            graph.nodes[n]["score"],
            graph.nodes[n]["summary"][:60],
        ]
        for n in line
    ]
