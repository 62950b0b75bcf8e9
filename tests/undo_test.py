"""Undo with git: `git reset --hard` drops generations from main. Main's history is the
record; the bot reconciles its branches, pull requests and journal with it, and never
wedges or believes a merge that main does not have."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.loop import Event, Loop
from bot.workspace import Workspace
from tests.conftest import git


def run(repo: Path, generations: int) -> list[Event]:
    events: list[Event] = []
    Loop(Workspace.open(repo), on_event=events.append).run(
        generations=generations, until=None, mutations=2
    )
    return events


def elites_on_main(repo: Path) -> dict[str, str]:
    stats = json.loads(git(repo, "show", "main:lineage/strategy_stats.json"))
    return dict(stats["elites"])


@pytest.mark.slow
def test_a_merge_undone_by_reset_is_merged_again_on_a_branch_of_its_own(
    seeded_repo: Path,
) -> None:
    run(seeded_repo, 3)  # with this seed generation 3 merges a child into a new folder
    merges = git(seeded_repo, "log", "--first-parent", "--merges", "--format=%H %s", "main")
    assert merges, "the scenario needs a merge"
    merge, subject = merges.splitlines()[0].split(" ", 1)
    branch = subject.removeprefix("Merge ").split(":")[0]
    git(seeded_repo, "reset", "-q", "--hard", f"{merge}~1")  # undo from that merge on

    events = run(seeded_repo, 1)

    # what the record says was merged is on main: every elite's folder is there
    for strategy in elites_on_main(seeded_repo):
        assert git(seeded_repo, "ls-tree", "main", f"strategies/{strategy}/strategy.toml")
    said = [e.detail for e in events if e.kind == "problem" and "no longer on main" in e.detail]
    assert any(f"branch {branch} is left from a generation 3" in line for line in said)
    again = git(seeded_repo, "log", "--first-parent", "--merges", "--format=%s", "main")
    assert f"Merge {branch}-2:" in again
    run(seeded_repo, 1)  # and the next run goes on
    assert git(seeded_repo, "status", "--porcelain") == ""


@pytest.mark.slow
def test_a_generation_in_progress_whose_base_was_undone_is_planned_anew(
    seeded_repo: Path,
) -> None:
    run(seeded_repo, 1)
    base = git(seeded_repo, "rev-parse", "main")
    loop = Loop(Workspace.open(seeded_repo))
    journal = loop.plan(mutations=2)  # a generation planned, then the run stopped
    loop._save(journal)
    loop._materialise(journal)
    opened = [e.pr for e in journal.entries if e.pr is not None]
    assert opened
    git(seeded_repo, "reset", "-q", "--hard", "main~1")  # the person undoes generation 1

    events = run(seeded_repo, 1)

    stats = json.loads(git(seeded_repo, "show", "main:lineage/strategy_stats.json"))
    assert stats["generation"] == 1  # generation 1 planned and run again
    assert [g["generation"] for g in stats["generations"]] == [0, 1]
    said = [e.detail for e in events if e.kind == "problem" and "planned anew" in e.detail]
    assert said and f"generation 2 was planned on {base[:10]}" in said[0]
    kept = list((seeded_repo / ".git" / "augnes").glob("journal.undone-g002-*.json"))
    assert len(kept) == 1
    forge = Workspace.open(seeded_repo).forge
    for number in opened:  # the undone plan's pull requests are closed, with the reason
        pull = forge.get_pull(number)
        assert pull.state == "closed"
        assert "no longer on main (undone)" in pull.comments[-1].body


@pytest.mark.slow
def test_repair_sets_an_unreadable_journal_aside_and_closes_what_nothing_owns(
    seeded_repo: Path,
) -> None:
    run(seeded_repo, 0)
    loop = Loop(Workspace.open(seeded_repo))
    journal = loop.plan(mutations=2)
    loop._save(journal)
    loop._materialise(journal)
    opened = [e.pr for e in journal.entries if e.pr is not None]
    (seeded_repo / ".git" / "augnes" / "journal.json").write_text('{"generation": ')  # damaged

    code, output = invoke(seeded_repo, "status")
    assert code == 8 and "`augnes repair` sets it aside" in output

    code, output = invoke(seeded_repo, "repair")
    assert code == 0, output
    assert "journal.json" in output and "set aside as" in output
    for number in opened:
        assert f"closed #{number} " in output
        assert Workspace.open(seeded_repo).forge.get_pull(number).state == "closed"
    assert list((seeded_repo / ".git" / "augnes").glob("journal.unreadable-*.json"))
    code, output = invoke(seeded_repo, "repair")  # idempotent
    assert code == 0 and "Nothing to repair" in output, output
    run(seeded_repo, 1)  # the generation is planned anew
    assert (
        json.loads(git(seeded_repo, "show", "main:lineage/strategy_stats.json"))["generation"] == 1
    )


def invoke(repo: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["-C", str(repo), *args])
    return result.exit_code, result.output
