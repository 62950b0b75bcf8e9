"""A generation in two halves, as the workflows run it: `augnes propose` (evolve), one
`augnes evaluate-candidate` per candidate (evaluate), `augnes select` (select) from a
checkout that has only what the forge holds — the journal travels on refs/augnes/journal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.journal import JOURNAL_REF
from tests.conftest import git
from tests.github.emulator import Emulator


def augnes(repo: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["-C", str(repo), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def half_generation(repo: Path, tmp_path: Path, *extra: str, then: tuple[str, ...] = ()) -> dict:  # type: ignore[type-arg]
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
    summary = json.loads(augnes(repo, "select", "--artifacts", str(folder), *then))
    return {"proposed": proposed, "summary": summary}


def test_propose_evaluate_select(
    on_github: tuple[Emulator, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator, repo = on_github
    job_summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(job_summary))
    g0 = half_generation(repo, tmp_path)
    assert g0["summary"]["generation"] == 0 and not emulator.pulls
    assert len(g0["proposed"]["candidates"]) == 3  # the seeds
    planned = json.loads(augnes(repo, "propose", "-m", "3", "--dry-run"))
    assert planned["generation"] == 1 and len(planned["candidates"]) == 3 and not emulator.pulls
    g1 = half_generation(
        repo,
        tmp_path,
        "--dispatch",
        "evaluate.yml",
        "--generations",
        "2",
        then=("--then-dispatch", "evolve.yml"),
    )
    summary = g1["summary"]
    assert summary["generation"] == 1
    assert summary["merged"] + summary["closed"] == 3 == len(emulator.pulls)
    dispatched = emulator.dispatches[-2]
    assert dispatched["workflow"] == "evaluate.yml" and dispatched["ref"] == "main"
    assert json.loads(dispatched["inputs"]["candidates"]) == g1["proposed"]["candidates"]
    assert dispatched["inputs"]["harness"] == g1["proposed"]["harness"]
    # one more generation was asked for: the select job starts the next evolve
    assert emulator.dispatches[-1]["workflow"] == "evolve.yml"
    assert emulator.dispatches[-1]["inputs"] == {"generations": "1", "mutations": "3"}
    # lineage on the forge's main, the journal gone from the forge once selected
    assert emulator.git("rev-parse", "main") == git(repo, "rev-parse", "main")
    assert "g001" in emulator.git("log", "-1", "--format=%s", "main")
    assert emulator.git("for-each-ref", JOURNAL_REF) == ""
    text = job_summary.read_text()  # a table per run in the Actions job summary
    assert "## Augnes generation 0" in text and "## Augnes generation 1" in text
    assert "| goal | avg_regret |" in text and "| cartpole |" in text


def test_people_stop_and_pin_pull_requests(
    on_github: tuple[Emulator, Path], tmp_path: Path
) -> None:
    emulator, repo = on_github
    half_generation(repo, tmp_path)  # the seeds
    proposed = json.loads(augnes(repo, "propose", "-m", "4"))
    stopped, pinned = sorted(emulator.pulls)[:2]
    for number, label in ((stopped, "augnes:stop"), (pinned, "augnes:pin")):
        emulator._ensure_label(label)
        emulator.pulls[number].labels.append(label)
    folder = tmp_path / "artifacts-g1"
    for c in proposed["candidates"]:
        out = folder / f"evaluation-{c['id']}" / "evaluation.json"
        out.parent.mkdir(parents=True)
        augnes(repo, "evaluate-candidate", c["id"], "--commit", c["sha"], "--out", str(out))
    augnes(repo, "select", "--artifacts", str(folder))
    stop = emulator.pulls[stopped]
    assert stop.state == "open" and not stop.merged
    assert not [c for c in emulator.comments.values() if c["issue"] == stopped]  # left alone
    pin = emulator.pulls[pinned]
    assert pin.merged or pin.state == "open"  # never closed
    if not pin.merged:
        bodies = [c["body"] for c in emulator.comments.values() if c["issue"] == pinned]
        assert any("left open (augnes:pin)" in b for b in bodies)
