"""A strategy added to a repository that already evolves gets children of its own, even when
it starts far behind the others (parents.newcomer_children)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from tests.conftest import git


def children_of(repo: Path, folder: str) -> list[dict]:
    stats = json.loads(git(repo, "show", "main:lineage/strategy_stats.json"))
    variants = stats["variants"]
    return [
        v
        for v in variants.values()
        if v["parents"]
        and v["operator"] != "human"
        and variants[v["parents"][0]]["strategy"] == folder
    ]


def test_a_new_strategy_far_behind_gets_children_until_it_has_some(seeded_repo: Path) -> None:
    first = CliRunner().invoke(cli, ["-C", str(seeded_repo), "run", "-g", "2", "-m", "2"])
    assert first.exit_code == 0, first.output
    # a person adds a strategy that starts far behind: the linear policy with every weight 0
    shutil.copytree(seeded_repo / "strategies" / "linear", seeded_repo / "strategies" / "newbie")
    toml = seeded_repo / "strategies" / "newbie" / "strategy.toml"
    toml.write_text(toml.read_text().replace('name = "linear"', 'name = "newbie"'))
    params = seeded_repo / "strategies" / "newbie" / "params.json"
    values = json.loads(params.read_text())
    zeroed = {k: [0.0] * len(v) if isinstance(v, list) else 0.0 for k, v in values.items()}
    params.write_text(json.dumps(zeroed, indent=2) + "\n")
    git(seeded_repo, "add", "-A")
    git(seeded_repo, "commit", "-q", "-m", "a new strategy")
    again = CliRunner().invoke(cli, ["-C", str(seeded_repo), "run", "-g", "8", "-m", "2"])
    assert again.exit_code == 0, again.output
    stats = json.loads(git(seeded_repo, "show", "main:lineage/strategy_stats.json"))
    newbie = [v for v in stats["variants"].values() if v["strategy"] == "newbie"]
    assert [v["operator"] for v in newbie if not v["parents"]] == ["human"]  # as committed
    # a child a generation (shared with other newcomers, fewest first) until it has three
    assert len(children_of(seeded_repo, "newbie")) >= 3, again.output
    later = [v for v in stats["variants"].values() if v["generation"] > 2 and v["parents"]]
    assert any(variants_folder(stats, v) != "newbie" for v in later)


def variants_folder(stats: dict, v: dict) -> str:
    return stats["variants"][v["parents"][0]]["strategy"]
