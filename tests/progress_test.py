"""Progress inside a generation: the session tells each finished episode, the loop turns it
into `progress` events, a terminal shows the candidate's episodes and the time left, piped
output gets plain lines, and the JSON log stays one record per state change."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from bot.cli import cli
from bot.commands import run as run_module
from bot.commands.run import ProgressReporter
from bot.loop import Event, Loop
from bot.workspace import Workspace


@pytest.mark.parametrize("workers", [1, 2])
def test_the_loop_tells_each_candidates_episodes_as_they_finish(
    seeded_repo: Path, workers: int
) -> None:
    """In this process, or in worker processes that tell the loop over a queue."""
    events: list[Event] = []
    Loop(Workspace.open(seeded_repo, workers=workers), on_event=events.append).run(
        generations=1, until=None, mutations=1
    )
    progress = [e for e in events if e.kind == "progress"]
    evaluated = {e.candidate for e in events if e.kind == "evaluated"}
    assert {e.candidate for e in progress} == evaluated  # every candidate, seeds included
    for cid in evaluated:
        mine = [e for e in progress if e.candidate == cid]
        done = [e.done for e in mine]
        assert done == sorted(done) and all(
            0 < d <= e.total for d, e in zip(done, mine, strict=True)
        )
    # a seed faces every episode: its last progress event says all are done
    seeds = [e for e in events if e.kind == "evaluating" and e.operator == "seed"]
    last = [e for e in progress if e.candidate == seeds[0].candidate][-1]
    assert last.done == last.total == 4 * 3  # four goals, three episodes each (conftest)


def feed(reporter: ProgressReporter) -> None:
    reporter(Event("generation", 1, detail="planned", total=2))
    reporter(Event("evaluating", 1, "c-1234567", "perturb x", 2, operator="perturb"))
    reporter(Event("progress", 1, "c-1234567", "perturb x", 80, operator="perturb", done=40))
    reporter(Event("evaluated", 1, "c-1234567", "benchmark_score 0.500", 1, operator="perturb"))
    reporter(Event("decided", 1, "c-1234567", "closed: S below"))
    reporter(Event("committed", 1, detail="augnes(g001): selection — merged 0, closed 1"))


def test_a_terminal_shows_the_candidates_episodes_and_the_time_left() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120, color_system=None)
    reporter = ProgressReporter(terminal=True, console=console)
    feed(reporter)
    shown = screen.getvalue()
    assert "c-1234567 perturb" in shown and "40/80" in shown and "episodes" in shown
    assert "g001 (planned)" in shown and "candidates" in shown
    assert "0:00:" in shown or "-:--:--" in shown  # rich's estimate of the time left


def test_piped_output_gets_a_plain_line_for_a_slow_candidate(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(run_module, "PLAIN_EVERY", 0.0)
    feed(ProgressReporter(terminal=False))
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "g001 (planned)"
    assert out[1].startswith("  c-1234567 perturb: 40/80 episodes, about ") and out[1].endswith(
        " s left"
    )
    assert out[2:] == [
        "  c-1234567: closed: S below",
        "augnes(g001): selection — merged 0, closed 1",
    ]
    # a fast candidate (under PLAIN_EVERY seconds) adds no line
    monkeypatch.setattr(run_module, "PLAIN_EVERY", 3600.0)
    feed(ProgressReporter(terminal=False))
    assert not [line for line in capsys.readouterr().out.splitlines() if "episodes" in line]


def test_the_json_log_has_no_progress_records(seeded_repo: Path) -> None:
    result = CliRunner().invoke(
        cli, ["-C", str(seeded_repo), "--log-format", "json", "run", "-g", "1", "-m", "1"]
    )
    assert result.exit_code == 0, result.output
    kinds = {json.loads(line)["event"] for line in result.output.splitlines() if line.strip()}
    assert "evaluated" in kinds and "progress" not in kinds
