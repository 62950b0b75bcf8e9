"""`augnes prune`: decided candidates' branches of older generations go, here and on
GitHub; open pull requests and every archive ref stay, so the lineage stays whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.loop import Loop
from bot.workspace import Workspace
from tests.conftest import git


def refs(repo: Path, prefix: str) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname)", prefix).splitlines()


def prune(repo: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["-C", str(repo), "prune", *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
def test_prune_keeps_the_recent_generations_and_every_archive_ref(seeded_repo: Path) -> None:
    Loop(Workspace.open(seeded_repo)).run(generations=3, until=None, mutations=2)
    branches = refs(seeded_repo, "refs/heads/augnes/")
    archive = refs(seeded_repo, "refs/augnes/archive/")
    graph = git(seeded_repo, "log", "--graph", "--oneline", "--all")
    old = [b for b in branches if "/g001/" in b or "/g002/" in b]
    assert old and len(old) < len(branches)

    said = prune(seeded_repo, "--keep", "1", "--dry-run")
    assert f"would delete {len(old)} branch(es) here" in said
    assert refs(seeded_repo, "refs/heads/augnes/") == branches  # a dry run deletes nothing

    said = prune(seeded_repo, "--keep", "1")
    assert f"deleted {len(old)} branch(es) here" in said and "generations ≤ 2" in said
    assert refs(seeded_repo, "refs/heads/augnes/") == [b for b in branches if b not in old]
    assert refs(seeded_repo, "refs/augnes/archive/") == archive
    # every commit is still reachable: the family tree reads the same from the archive refs
    assert len(git(seeded_repo, "log", "--oneline", "--all").splitlines()) == len(
        [line for line in graph.splitlines() if "*" in line]
    )
    assert "deleted 0 branch(es)" in prune(seeded_repo, "--keep", "1")
    Loop(Workspace.open(seeded_repo)).run(generations=1, until=None, mutations=2)  # goes on
