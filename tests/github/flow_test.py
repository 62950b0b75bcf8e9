"""A generation in two halves, as the workflows run it: `augnes propose` (evolve), one
`augnes evaluate-candidate` per candidate (evaluate), `augnes select` (select) from a
checkout that has only what the forge holds — the journal travels on refs/augnes/journal."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from bot.journal import JOURNAL_REF
from tests.conftest import git
from tests.github.emulator import Emulator


def augnes(repo: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["-C", str(repo), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def half_generation(repo: Path, tmp_path: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    proposed = json.loads(augnes(repo, "propose", "-m", "3", *extra))
    folder = tmp_path / f"artifacts-g{proposed['generation']}"
    for c in proposed["candidates"]:
        out = folder / f"evaluation-{c['id']}" / "evaluation.json"
        out.parent.mkdir(parents=True)
        args = ["evaluate-candidate", c["id"], "--commit", c["sha"], "--out", str(out)]
        if c["sha"] == proposed["harness"]:  # a strategy as committed: a seed
            args += ["--strategy", c["strategy"]]
        augnes(repo, *args)
    # the select job starts from a checkout: no local journal, no local journal ref
    (repo / ".git" / "augnes" / "journal.json").unlink()
    git(repo, "update-ref", "-d", JOURNAL_REF)
    summary = json.loads(augnes(repo, "select", "--artifacts", str(folder)))
    return {"proposed": proposed, "summary": summary}


def test_propose_evaluate_select(on_github: tuple[Emulator, Path], tmp_path: Path) -> None:
    emulator, repo = on_github
    g0 = half_generation(repo, tmp_path)
    assert g0["summary"]["generation"] == 0 and not emulator.pulls
    assert len(g0["proposed"]["candidates"]) == 3  # the seeds
    g1 = half_generation(repo, tmp_path, "--dispatch", "evaluate.yml")
    summary = g1["summary"]
    assert summary["generation"] == 1
    assert summary["merged"] + summary["closed"] == 3 == len(emulator.pulls)
    dispatched = emulator.dispatches[-1]
    assert dispatched["workflow"] == "evaluate.yml" and dispatched["ref"] == "main"
    assert json.loads(dispatched["inputs"]["candidates"]) == g1["proposed"]["candidates"]
    assert dispatched["inputs"]["harness"] == g1["proposed"]["harness"]
    # lineage on the forge's main, the journal gone from the forge once selected
    assert emulator.git("rev-parse", "main") == git(repo, "rev-parse", "main")
    assert "g001" in emulator.git("log", "-1", "--format=%s", "main")
    assert emulator.git("for-each-ref", JOURNAL_REF) == ""
