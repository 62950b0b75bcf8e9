"""Held-out seeds: every new elite is scored on episodes no selection reads, recorded apart,
shown beside its in-sample score — and the run's decisions are the same without them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.loop import Loop
from bot.workspace import Workspace
from tests.conftest import commit_file, git


def run(repo: Path, generations: int) -> Workspace:
    ws = Workspace.open(repo)
    Loop(ws).run(generations=generations, until=None, mutations=3)
    return Workspace.open(repo)


def decisions(ws: Workspace) -> list[tuple[int, str, str, str]]:
    stats = ws.committed_stats(ws.main_sha())
    assert stats is not None
    return sorted(
        (v.generation, v.candidate_id, v.operator, v.status) for v in stats.variants.values()
    )


def test_new_elites_are_scored_on_seeds_no_selection_reads(seeded_repo: Path) -> None:
    ws = run(seeded_repo, 3)
    main = ws.main_sha()
    stats = ws.committed_stats(main)
    assert stats is not None
    _, heldout = ws.committed_heldout(main)
    _, judgments = ws.committed_judgments(main)
    scored = {j.variant for j in heldout}
    # every seed strategy and every merged child, nothing else
    elites_ever = {
        cid
        for cid, v in stats.variants.items()
        if v.generation == 0 or v.decision.startswith("merged")
    }
    assert scored == elites_ever
    for goal in ws.suite.goals:
        inside = {j.seed for j in judgments if j.goal_id == goal.goal_id}
        outside = {j.seed for j in heldout if j.goal_id == goal.goal_id}
        assert outside == set(ws.suite.heldout_seeds(goal)) and not inside & outside
    for cid in scored:
        v = stats.variants[cid]
        mine = [j for j in heldout if j.variant == cid]
        assert v.heldout_episodes == len(mine)
        assert v.heldout_score == pytest.approx(mine[0].benchmark_score, abs=1e-5)
    assert stats.generations[-1].best_heldout_score is not None
    assert not ws.pending_heldout()  # all of it committed
    status = CliRunner().invoke(cli, ["-C", str(seeded_repo), "status"])
    assert "held-out" in status.output
    recompute = CliRunner().invoke(cli, ["-C", str(seeded_repo), "stats", "--recompute"])
    assert recompute.exit_code == 0, recompute.output


def test_the_decisions_do_not_depend_on_the_held_out_scores(
    seeded_repo: Path, tmp_path: Path
) -> None:
    other = tmp_path / "without"
    git(seeded_repo.parent, "clone", "-q", str(seeded_repo), str(other))
    text = (other / "pyproject.toml").read_text()
    off = text.replace("first_stage_episodes = 1", "first_stage_episodes = 1\nheldout = false")
    commit_file(other, "pyproject.toml", off)
    text = (seeded_repo / "pyproject.toml").read_text()
    commit_file(seeded_repo, "pyproject.toml", text + "\n")  # the same history length
    with_heldout, without = run(seeded_repo, 3), run(other, 3)
    assert decisions(with_heldout) == decisions(without)
    assert not without.committed_heldout(without.main_sha())[1]


def test_the_run_table_shows_the_held_out_score(seeded_repo: Path) -> None:
    result = CliRunner().invoke(cli, ["-C", str(seeded_repo), "run", "-g", "1", "-m", "2"])
    assert result.exit_code == 0, result.output
    assert "held-out" in result.output
    assert "held-out benchmark_score" in result.output  # one line per new elite
    data = CliRunner().invoke(cli, ["-C", str(seeded_repo), "status", "--json"])
    elites = json.loads(data.output)["elites"]
    assert all(e["heldout_score"] is not None for e in elites.values())
