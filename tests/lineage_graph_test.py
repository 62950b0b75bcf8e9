"""`augnes lineage`: the graph is git's own ancestry, written in every format."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import networkx as nx
from click.testing import CliRunner

from bot.cli import cli
from bot.lineage_graph import Filters, ancestors, build
from bot.loop import Loop
from bot.workspace import Workspace
from tests.conftest import git


def is_ancestor(repo: Path, a: str, b: str) -> bool:
    return subprocess.run(["git", "merge-base", "--is-ancestor", a, b], cwd=repo).returncode == 0


def test_the_graph_is_the_ancestry_git_shows(seeded_repo: Path) -> None:
    Loop(Workspace.open(seeded_repo)).run(generations=3, until=None, mutations=3)
    graph = build(Workspace.open(seeded_repo))
    commits = {n: d["commit"] for n, d in graph.nodes(data=True)}
    archived = git(seeded_repo, "for-each-ref", "--format=%(refname)", "refs/augnes/archive")
    assert graph.number_of_nodes() == len(archived.splitlines())
    # every parent edge is an ancestry relation in `git log --graph --all`
    for a, b in graph.edges:
        assert is_ancestor(seeded_repo, commits[a], commits[b]), (a, b)
    # and the reverse: a candidate commit's git parents after the first (the base branch it
    # was made on) are exactly the commits of its parents in the graph
    for n, d in graph.nodes(data=True):
        if d["state"] == "seed":
            continue
        parents = git(seeded_repo, "log", "-1", "--format=%P", d["commit"]).split()
        assert {commits[p] for p in graph.predecessors(n)} == set(parents[1:]), n
    states = {d["state"] for _, d in graph.nodes(data=True)}
    assert {"elite", "closed"} <= states
    stats = json.loads(git(seeded_repo, "show", "main:lineage/strategy_stats.json"))
    for cid in stats["elites"].values():
        assert graph.nodes[cid]["state"] == "elite"
        line = ancestors(graph, cid)[0]
        assert line[0] == cid and graph.nodes[line[-1]]["operator"] == "seed"


def test_files_filters_and_the_command(seeded_repo: Path, tmp_path: Path) -> None:
    Loop(Workspace.open(seeded_repo)).run(generations=3, until=None, mutations=3)
    out = tmp_path / "graph"
    result = CliRunner().invoke(
        cli, ["-C", str(seeded_repo), "lineage", "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["variants"] > 0 and len(summary["files"]) == 4
    dot = (out / "lineage.dot").read_text()
    assert dot.startswith("digraph lineage {") and dot.count("->") == summary["edges"]
    read = nx.read_graphml(out / "lineage.graphml")
    assert read.number_of_nodes() == summary["variants"]
    html = (out / "lineage.html").read_text()
    assert '<script id="graph" type="application/json">' in html and "<svg" in html
    assert "http" not in html.split("<svg", 1)[0].replace("http-equiv", "")  # self-contained
    assert (out / "lineage.svg").read_text().count('class="node') == summary["variants"]
    ws = Workspace.open(seeded_repo)
    late = build(ws, filters=Filters(since=3))
    assert any(d["generation"] == 3 for _, d in late.nodes(data=True))
    for n, d in late.nodes(data=True):  # earlier ones only as parents of the view
        if d["generation"] < 3:
            assert any(late.nodes[c]["generation"] >= 3 for c in late.successors(n))
    niche = next(d["niche"] for _, d in late.nodes(data=True) if d["generation"] == 3)
    only = build(ws, filters=Filters(niche=niche))
    assert {d["niche"] for n, d in only.nodes(data=True) if only.out_degree(n) == 0} == {
        niche
    } or only
    sized = build(ws, filters=Filters(goal="cartpole"))
    assert any(d["score"] != build(ws).nodes[n]["score"] for n, d in sized.nodes(data=True))
    elite = json.loads(git(seeded_repo, "show", "main:lineage/strategy_stats.json"))["elites"]
    cid = next(iter(elite.values()))
    printed = CliRunner().invoke(cli, ["-C", str(seeded_repo), "lineage", "--ancestors", cid])
    assert printed.exit_code == 0 and cid in printed.output and "seed" in printed.output
