"""What `augnes run` prints: golden summary table, and refusal of a second writer."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from bot.commands.run import summary_table
from bot.lineage_files import locked
from bot.records import GenerationSummary

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def summary(g: int, merged: int, bench: float, wall: float, episodes: float) -> GenerationSummary:
    return GenerationSummary(
        generation=g, run_id="r", evaluated=4, merged=merged, closed=4 - merged, early_stopped=1,
        best_selection_score=0.5 + g / 100, best_benchmark_score=bench,
        best_heldout_score=round(bench - 0.01, 4),
        avg_regret={"cartpole": 12.5 - g, "pendulum": 1300.25 - 10 * g}, wall_s=wall, episode_s=episodes,
    )  # fmt: skip


def test_summary_table_golden() -> None:
    text = summary_table([summary(0, 0, 0.5177, 4.0, 3.8), summary(1, 2, 0.772, 4.2, 4.0)]) + "\n"
    path = GOLDEN / "run_summary.txt"
    if os.environ.get("AUGNES_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_a_second_run_is_refused_while_one_is_writing(seeded_repo: Path) -> None:
    state = seeded_repo / ".git" / "augnes"
    state.mkdir(parents=True, exist_ok=True)
    with locked(state / "writer.lock"):
        result = CliRunner().invoke(cli, ["-C", str(seeded_repo), "run", "-g", "1", "-m", "1"])
    assert result.exit_code == 8
    assert "another Augnes process holds this lock" in result.output
    assert "augnes(g000)" not in result.output
