"""The GitHub emulator, on a real bare repository, for tests that talk to "GitHub"."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import git
from tests.github.emulator import Emulator


@pytest.fixture()
def github(tmp_path: Path) -> Iterator[Emulator]:
    """The emulator serving octo/evolving, whose repository has main and one bot branch.
    The test fails if any request or response broke GitHub's description."""
    work = tmp_path / "work"
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "README.md").write_text("evolving\n")
    git(work, "add", "README.md")
    git(work, "commit", "-q", "-m", "start")
    git(work, "checkout", "-q", "-b", "augnes/g001/c-1111111")
    (work / "strategy.txt").write_text("child\n")
    git(work, "add", "strategy.txt")
    git(work, "commit", "-q", "-m", "child")
    git(work, "push", "-q", str(bare), "main", "augnes/g001/c-1111111")
    emulator = Emulator(bare).start()
    emulator.work = work  # type: ignore[attr-defined]
    yield emulator
    emulator.stop()
    assert emulator.violations == [], "\n".join(emulator.violations)
