"""`augnes run --strategy NAME`: a run that gives children to the named strategies only."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from tests.conftest import git


def test_run_focused_on_one_strategy_gives_children_to_it_alone(seeded_repo: Path) -> None:
    result = CliRunner().invoke(
        cli, ["-C", str(seeded_repo), "run", "-g", "2", "-m", "3", "--strategy", "linear"]
    )
    assert result.exit_code == 0, result.output
    stats = json.loads(git(seeded_repo, "show", "main:lineage/strategy_stats.json"))
    children = [v for v in stats["variants"].values() if v["generation"] > 0]
    assert children and all(v["family"] == "linear" for v in children)
    wrong = CliRunner().invoke(cli, ["-C", str(seeded_repo), "run", "--strategy", "nope"])
    assert wrong.exit_code == 2
    assert "--strategy nope: no such strategy of suite control on main; choose from" in wrong.output
