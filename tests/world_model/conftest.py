"""A seeded repository after its baseline generation, with real transitions sampled from
its elites in the sandbox (shared by this folder's tests; each test copies it)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.loop import Loop
from bot.sandbox import open_sandbox
from bot.workspace import Workspace
from bot.world_model.sampling import sample
from tests.conftest import make_seeded_repo

TRANSITIONS = 1500


@pytest.fixture(scope="package")
def _sampled_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = make_seeded_repo(tmp_path_factory.mktemp("wm") / "repo")
    ws = Workspace.open(repo)
    Loop(ws).run(generations=0, until=0, mutations=1)
    sandbox = open_sandbox(ws.config.evaluation)
    try:
        sample(ws, sandbox, per_goal=TRANSITIONS, capacity=10_000)
    finally:
        sandbox.close()
    return repo


@pytest.fixture
def sampled_repo(_sampled_template: Path, tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "sampled"
    shutil.copytree(_sampled_template, target, symlinks=True)
    yield target
