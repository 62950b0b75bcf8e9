"""`augnes try PATH`: a strategy folder evaluated before it is committed, beside its niche
elite, with failures and their reasons; no branch, no pull request, no record."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from bot.loop import Loop
from bot.workspace import Workspace
from tests.conftest import git


def state(repo: Path) -> tuple[str, str, str]:
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    return refs, git(repo, "status", "--porcelain"), git(repo, "stash", "list")


def test_try_an_edited_strategy_against_its_elite_and_record_nothing(seeded_repo: Path) -> None:
    Loop(Workspace.open(seeded_repo)).run(generations=0, until=0, mutations=1)
    params = seeded_repo / "strategies" / "heuristic" / "params.json"
    values = json.loads(params.read_text())
    values["cart_angle_gain"] = 0.0  # an uncommitted edit that breaks balancing
    params.write_text(json.dumps(values, indent=2) + "\n")
    before = state(seeded_repo)

    result = CliRunner().invoke(cli, ["-C", str(seeded_repo), "try", "strategies/heuristic"])

    assert result.exit_code == 0, result.output
    assert "heuristic from " in result.output and "(nothing recorded)" in result.output
    assert "cartpole" in result.output and "elite's" in result.output
    assert "the niche's elite c-" in result.output and "(-0." in result.output  # worse
    assert state(seeded_repo) == before  # no branch, no ref, no record, the edit untouched


def test_try_a_new_strategy_that_cannot_load_says_why(seeded_repo: Path) -> None:
    folder = seeded_repo / "strategies" / "fresh"
    shutil.copytree(seeded_repo / "strategies" / "linear", folder)
    manifest = folder / "strategy.toml"
    manifest.write_text(manifest.read_text().replace('name = "linear"', 'name = "fresh"'))
    (folder / "policy.py").write_text(
        (folder / "policy.py").read_text() + "\nraise ValueError('typo in the policy')\n"
    )
    result = CliRunner().invoke(cli, ["-C", str(seeded_repo), "try", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["elite"] is None and data["benchmark_score"] == 0.0
    assert data["failure"].startswith("load_error: ") and "typo in the policy" in data["failure"]
    assert all(n > 0 for n in data["failed_episodes"].values())
    shown = CliRunner().invoke(cli, ["-C", str(seeded_repo), "try", str(folder)])
    assert "no elite of fresh" in shown.output and "ValueError: typo in the policy" in shown.output


def test_try_names_a_path_that_is_no_strategy(seeded_repo: Path) -> None:
    result = CliRunner().invoke(cli, ["-C", str(seeded_repo), "try", "benchmarks"])
    assert result.exit_code == 2
    assert "no strategy.toml here; give the path of a strategy folder" in result.output
