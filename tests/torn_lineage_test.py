"""A committed JSONL file under lineage/ whose last line is torn (a person's editor, a bad
merge): the next generation never glues its first record onto it, drops nothing, and says
what it did, naming the file and the line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.forge.local_forge import LocalForge
from bot.loop import Event, Loop
from bot.records import Judgment
from bot.repo import Repo
from bot.workspace import Workspace
from tests.conftest import git


def generation(repo: Path) -> list[Event]:
    events: list[Event] = []
    LocalForge(Repo(repo))
    Loop(Workspace.open(repo), on_event=events.append).run(generations=1, until=None, mutations=1)
    return events


def judgments(repo: Path) -> list[str]:
    """main's lineage/judgments.jsonl, split at its newlines (the last item after the last)."""
    shown = subprocess.run(
        ["git", "show", "main:lineage/judgments.jsonl"], cwd=repo, capture_output=True, check=True
    )
    return shown.stdout.decode().split("\n")


@pytest.mark.slow
@pytest.mark.parametrize("cut", [1, 40], ids=["newline lost", "record cut"])
def test_the_next_generation_appends_on_a_new_line_and_drops_nothing(
    seeded_repo: Path, cut: int
) -> None:
    generation(seeded_repo)
    lines = judgments(seeded_repo)[:-1]
    text = "\n".join(lines) + "\n"
    torn = text[:-cut]  # the last line without its newline, or cut in the middle
    (seeded_repo / "lineage" / "judgments.jsonl").write_text(torn)
    git(seeded_repo, "commit", "-qam", "a person's editor ate the end of the file")

    events = generation(seeded_repo)

    after = judgments(seeded_repo)
    assert after[-1] == ""  # the file ends with a newline
    parsed = [Judgment.model_validate_json(line) for line in after[:-1]]  # every line whole
    kept = len(lines) if cut == 1 else len(lines) - 1
    assert after[:kept] == lines[:kept]
    assert len(parsed) > kept  # the new generation's judgments came after
    said = [e.detail for e in events if e.kind == "problem" and "last line" in e.detail]
    line = len(lines)
    if cut == 1:
        assert said == [f"lineage/judgments.jsonl:{line}: the last line had lost its newline; "
                        "it was kept"]  # fmt: skip
    else:
        aside = "lineage/judgments.jsonl.torn-g002"  # the generation that set it aside
        assert said == [
            f"lineage/judgments.jsonl:{line}: a torn last line ({len(lines[-1]) - cut + 1} "
            f"characters) was set aside; it is kept in {aside}"
        ]
        assert git(seeded_repo, "show", f"main:{aside}") == lines[-1][: -cut + 1]
    recompute = CliRunner().invoke(cli, ["-C", str(seeded_repo), "stats", "--recompute"])
    assert recompute.exit_code == 0, recompute.output
    assert "match" in recompute.output
