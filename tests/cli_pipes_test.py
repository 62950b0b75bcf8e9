"""Standard output piped into a reader that stops early (`augnes status | head -1`): a
listing ends cleanly, and a run finishes its generations instead of stopping halfway."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.records import StrategyStatsFile
from tests.conftest import ROOT, git


def into_closed_pipe(repo: Path, *args: str, stderr_too: bool = False) -> tuple[int, str]:
    """`augnes ARGS | head -0`: the reader is gone before the first line is written."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bot", "-C", str(repo), *args],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=write,
            stderr=write if stderr_too else subprocess.PIPE,
            timeout=300,
        )
    finally:
        os.close(write)
    return proc.returncode, (proc.stderr or b"").decode()


@pytest.mark.slow
def test_a_run_piped_into_a_reader_that_stopped_finishes_its_generations(
    seeded_repo: Path,
) -> None:
    code, err = into_closed_pipe(seeded_repo, "run", "--generations", "1", "--mutations", "1")
    assert code == 0, err
    assert "Error" not in err and "Traceback" not in err
    stats = StrategyStatsFile.model_validate_json(
        git(seeded_repo, "show", "main:lineage/strategy_stats.json")
    )
    assert stats.generation == 1  # generation 0, then the one asked for
    for args in (["status"], ["stats"], ["lineage"], ["--help"]):
        code, err = into_closed_pipe(seeded_repo, *args)
        assert (code, err) == (0, ""), args
    code, _ = into_closed_pipe(seeded_repo, "status", stderr_too=True)
    assert code == 0
