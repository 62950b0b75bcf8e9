"""MAP-Elites niches: a child whose parameters put it in another complexity cell goes to that
cell's folder, or founds a new strategy folder when the cell is empty; the grid shows it."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from bot.loop import Loop
from bot.workspace import Workspace
from tests.conftest import commit_file, git


def near_the_edge(repo: Path, *, found: bool) -> None:
    """mlp alone, at 63 hidden units: a perturbation of its size often crosses the bin edge
    at 64."""
    git(repo, "rm", "-rq", "strategies/heuristic", "strategies/linear", "strategies/mpc")
    git(repo, "commit", "-qm", "mlp alone")
    params = json.loads((repo / "strategies/mlp/params.json").read_text())
    params["hidden_dim"] = 63
    commit_file(repo, "strategies/mlp/params.json", json.dumps(params, indent=2) + "\n")
    text = (repo / "pyproject.toml").read_text()
    commit_file(
        repo,
        "pyproject.toml",
        text + '\n[tool.augnes.variation]\noperators = ["perturb"]\nrate = 0.6\n'
        f"found_niches = {'true' if found else 'false'}\n",
    )


def run(repo: Path) -> None:
    Loop(Workspace.open(repo)).run(generations=1, until=None, mutations=4)


def test_a_child_in_an_empty_cell_founds_a_new_strategy_folder(seeded_repo: Path) -> None:
    near_the_edge(seeded_repo, found=True)
    for _ in range(5):
        run(seeded_repo)
        if "mlp-c3" in git(seeded_repo, "ls-tree", "--name-only", "main", "strategies/"):
            break
    stats = json.loads(git(seeded_repo, "show", "main:lineage/strategy_stats.json"))
    founder = stats["elites"]["mlp-c3"]
    record = stats["variants"][founder]
    assert record["niche"] == "mlp/c3" and record["strategy"] == "mlp-c3"
    assert stats["variants"][record["parents"][0]]["strategy"] == "mlp"
    manifest = git(seeded_repo, "show", "main:strategies/mlp-c3/strategy.toml")
    assert 'name = "mlp-c3"' in manifest and 'family = "mlp"' in manifest
    params = json.loads(git(seeded_repo, "show", "main:strategies/mlp-c3/params.json"))
    assert params["hidden_dim"] >= 64
    # the founding commit changes the new folder only, and mlp itself stays where it was
    commit = git(seeded_repo, "rev-parse", f"refs/augnes/archive/{founder}")
    changed = git(seeded_repo, "diff", "--name-only", f"{commit}^1", commit).splitlines()
    assert changed and all(p.startswith("strategies/mlp-c3/") for p in changed)
    mlp = json.loads(git(seeded_repo, "show", "main:strategies/mlp/params.json"))
    assert mlp["hidden_dim"] < 64
    grid = json.loads(
        CliRunner().invoke(cli, ["-C", str(seeded_repo), "status", "--niches", "--json"]).output
    )
    assert grid["families"]["mlp"]["c3"]["candidate"] == founder
    assert grid["held"] == 2 and grid["possible"] == 3  # mlp can reach c1, c2 and c3


def test_without_founding_children_stay_in_their_parents_folder(seeded_repo: Path) -> None:
    near_the_edge(seeded_repo, found=False)
    for _ in range(2):
        run(seeded_repo)
    stats = json.loads(git(seeded_repo, "show", "main:lineage/strategy_stats.json"))
    assert set(stats["elites"]) == {"mlp"}
    crossed = [v for v in stats["variants"].values() if v["niche"] == "mlp/c3"]
    assert all(v["strategy"] == "mlp" for v in crossed)
