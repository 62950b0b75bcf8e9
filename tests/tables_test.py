"""Tables a person can read: one number format per kind of value, only the suite's goals."""

from __future__ import annotations

import random
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from bot.commands.run import summary_table
from bot.commands.tables import table
from bot.loop import Loop
from bot.records import GenerationSummary
from bot.selection import Entrant, Rule, judge
from bot.workspace import Workspace
from tests.conftest import git
from tests.selection_test import score


def summary(generation: int, regret: dict[str, float]) -> GenerationSummary:
    return GenerationSummary(
        generation=generation,
        run_id="r",
        evaluated=2,
        merged=0,
        closed=2,
        best_selection_score=0.5,
        best_benchmark_score=1.0,
        avg_regret=regret,
        wall_s=1.0,
        episode_s=0.5,
    )


def test_scores_share_one_format_whatever_their_value() -> None:
    shown = table(["a", "b", "c"], [[1.0, 0.9571, -1.0]]).splitlines()[-1].split()
    assert shown == ["1.0000", "0.9571", "-1.0000"]


def test_the_run_table_shows_the_goals_of_the_suite_as_it_is_now() -> None:
    text = summary_table([summary(3, {"cartpole": 1.0, "tiers": 2.0}), summary(4, {"tiers": 2.0})])
    assert "regret:tiers" in text and "regret:cartpole" not in text


def test_a_rejection_says_the_threshold_it_missed() -> None:
    d = judge(
        Entrant("c-1", "n", score(0.5025)),
        score(0.5025),
        rule=Rule(min_improvement=0.005),
        rng=random.Random(0),
    )
    assert (
        d.reason == "S 0.5025 below the threshold 0.5075 (the niche elite's 0.5025 + margin 0.0050)"
    )


def test_status_names_apart_the_elites_of_another_suite(seeded_repo: Path) -> None:
    Loop(Workspace.open(seeded_repo)).run(generations=0, until=0, mutations=1)
    pyproject = seeded_repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('suite = "control"', 'suite = "binpacking"'))
    git(seeded_repo, "commit", "-qam", "another suite")
    result = CliRunner().invoke(cli, ["-C", str(seeded_repo), "status"])
    assert result.exit_code == 0, result.output
    assert "0.0000  0.0000" not in result.output
    assert "not scored in suite binpacking" in result.output and "linear" in result.output


def test_stats_fits_120_columns_unless_asked_wide(seeded_repo: Path) -> None:
    Loop(Workspace.open(seeded_repo)).run(generations=0, until=0, mutations=1)
    narrow = CliRunner().invoke(cli, ["-C", str(seeded_repo), "stats"]).output
    body = narrow.split("\n(")[0]
    assert max(len(line) for line in body.splitlines()) <= 120
    assert "per-goal column(s) left out to fit 120 characters: --wide shows them all" in narrow
    wide = CliRunner().invoke(cli, ["-C", str(seeded_repo), "stats", "--wide"]).output
    assert "cartpole:regret" in wide and "pendulum:regret" in wide
    assert max(len(line) for line in wide.splitlines()) > 120
