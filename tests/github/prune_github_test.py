"""`augnes prune` with the GitHub forge, against the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.loop import Loop
from bot.workspace import Workspace
from tests.github.emulator import Emulator
from tests.prune_test import prune


@pytest.mark.slow
def test_prune_on_github_deletes_the_remote_branches(on_github: tuple[Emulator, Path]) -> None:
    emulator, repo = on_github
    Loop(Workspace.open(repo)).run(generations=2, until=None, mutations=2)
    remote = emulator.git("for-each-ref", "--format=%(refname)", "refs/heads/augnes/")
    old = [b for b in remote.splitlines() if "/g001/" in b]
    assert old
    said = prune(repo, "--keep", "1")
    assert f"on github: {len(old)}" in said
    left = emulator.git("for-each-ref", "--format=%(refname)", "refs/heads/augnes/").splitlines()
    assert not set(old) & set(left) and left
    archived = emulator.git("for-each-ref", "--format=%(refname)", "refs/augnes/archive/")
    assert len(archived.splitlines()) >= 4
