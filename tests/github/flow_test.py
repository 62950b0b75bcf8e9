"""A generation in two halves, as the workflows run it: `augnes propose` (evolve), one
`augnes evaluate-candidate` per candidate (evaluate), `augnes select` (select) from a
checkout that has only what the forge holds — the journal travels on refs/augnes/journal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.journal import JOURNAL_REF
from tests.conftest import SEED_STRATEGIES, git
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
    assert len(g0["proposed"]["candidates"]) == len(SEED_STRATEGIES)
    planned = json.loads(augnes(repo, "propose", "-m", "3", "--dry-run"))
    assert planned["generation"] == 1 and len(planned["candidates"]) == 3
    assert not emulator.pulls
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


def evaluate_all(repo: Path, proposed: dict, folder: Path) -> None:  # type: ignore[type-arg]
    for c in proposed["candidates"]:
        out = folder / f"evaluation-{c['id']}" / "evaluation.json"
        out.parent.mkdir(parents=True)
        augnes(repo, "evaluate-candidate", c["id"], "--commit", c["sha"], "--out", str(out))


def test_a_persons_push_and_a_rerun_label_on_github(
    on_github: tuple[Emulator, Path], tmp_path: Path
) -> None:
    """Both pull requests stay open after generation 1 (augnes:stop). A person then pushes
    a commit to one and asks for a rerun of the other: generation 2 benchmarks the pushed
    commit as operator human and the other again, and decides both."""
    emulator, repo = on_github
    half_generation(repo, tmp_path)  # the seeds
    proposed = json.loads(augnes(repo, "propose", "-m", "2"))
    first, second = sorted(emulator.pulls)
    for number in (first, second):
        emulator._ensure_label("augnes:stop")
        emulator.pulls[number].labels.append("augnes:stop")
    evaluate_all(repo, proposed, tmp_path / "artifacts-g1")
    augnes(repo, "select", "--artifacts", str(tmp_path / "artifacts-g1"))
    assert [emulator.pulls[n].state for n in (first, second)] == ["open", "open"]

    person = tmp_path / "person"
    branch = emulator.pulls[first].branch
    git(tmp_path, "clone", "-q", "-b", branch, str(emulator.bare), str(person))
    cid = branch.rsplit("/", 1)[1]
    strategy = next(c["strategy"] for c in proposed["candidates"] if c["id"] == cid)
    params = person / "strategies" / strategy / "params.json"
    values = json.loads(params.read_text())
    key = next(k for k, v in sorted(values.items()) if isinstance(v, float))
    values[key] = round(values[key] + 0.125, 6)
    params.write_text(json.dumps(values, indent=2) + "\n")
    git(person, "commit", "-qam", "by hand", "--author=Ada Person <ada@example.com>")
    git(person, "push", "-q", "origin", branch)
    pushed = git(person, "rev-parse", "HEAD")
    for number, label in ((first, None), (second, "augnes:rerun")):
        emulator.pulls[number].labels.remove("augnes:stop")
        if label:
            emulator._ensure_label(label)
            emulator.pulls[number].labels.append(label)

    g2 = json.loads(augnes(repo, "propose", "-m", "1"))
    by_sha = {c["sha"]: c for c in g2["candidates"]}
    assert pushed in by_sha  # the person's commit is a candidate, evaluated like any other
    rerun_id = emulator.pulls[second].branch.rsplit("/", 1)[1]
    assert rerun_id in {c["id"] for c in g2["candidates"]}
    assert "augnes:rerun" not in emulator.pulls[second].labels
    assert "augnes:benchmarking" in emulator.pulls[first].labels
    evaluate_all(repo, g2, tmp_path / "artifacts-g2")
    augnes(repo, "select", "--artifacts", str(tmp_path / "artifacts-g2"))
    for number in (first, second):
        pull = emulator.pulls[number]
        assert pull.merged or pull.state == "closed"
    human = by_sha[pushed]["id"]
    stats = json.loads(git(repo, "show", "main:lineage/strategy_stats.json"))
    assert stats["variants"][human]["operator"] == "human"
    assert stats["variants"][human]["pr"] == first
    assert emulator.git("rev-parse", f"refs/augnes/archive/{human}") == pushed
    reports = [c["body"] for c in emulator.comments.values() if c["issue"] == first]
    assert any(f"A person's commit {pushed}" in b for b in reports)
    if emulator.pulls[first].merged:  # what merged is the person's commit
        assert emulator.pulls[first].head_sha == pushed


def test_two_select_jobs_at_once_merge_once(
    on_github: tuple[Emulator, Path], tmp_path: Path
) -> None:
    """The select workflow's concurrency group prevents this; if it happened anyway (two
    runners), each pull request is merged once and main gets one lineage commit."""
    import os
    import subprocess
    import sys

    emulator, repo = on_github
    half_generation(repo, tmp_path)  # the seeds
    proposed = json.loads(augnes(repo, "propose", "-m", "4"))
    folder = tmp_path / "artifacts-g1"
    for c in proposed["candidates"]:
        out = folder / f"evaluation-{c['id']}" / "evaluation.json"
        out.parent.mkdir(parents=True)
        augnes(repo, "evaluate-candidate", c["id"], "--commit", c["sha"], "--out", str(out))
    runners = []
    for name in ("a", "b"):  # two fresh checkouts of what the forge holds
        clone = tmp_path / f"runner-{name}"
        git(tmp_path, "clone", "-q", "-b", "main", str(emulator.bare), str(clone))
        runners.append(clone)
    env = {**os.environ, "GITHUB_TOKEN": "bot-token"}
    jobs = [
        subprocess.Popen(
            [sys.executable, "-m", "bot", "-C", str(clone), "select", "--artifacts", str(folder)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for clone in runners
    ]
    results = [(job.wait(timeout=300), job.stderr.read()) for job in jobs]
    assert any(code == 0 for code, _ in results), results
    for code, err in results:
        assert code == 0 or "refused" in err or "in progress" in err, err
    merges = [s for _, op, s in emulator.log if op == "pulls/merge" and s == 200]
    assert len(merges) == sum(1 for p in emulator.pulls.values() if p.merged)
    subjects = emulator.git("log", "--first-parent", "--format=%s", "main").splitlines()
    assert sum(1 for s in subjects if s.startswith("augnes(g001): selection")) == 1


def test_propose_with_chosen_operators(seeded_repo: Path) -> None:
    from bot import journal as journals

    result = CliRunner().invoke(cli, ["-C", str(seeded_repo), "propose", "--operators", "mutate"])
    assert (
        result.exit_code == 2
        and "choose from perturb, crossover, resample, global, cma, design" in result.output
    )
    augnes(seeded_repo, "run", "--until-generation", "0")  # the seeds, locally
    augnes(seeded_repo, "propose", "-m", "4", "--operators", "perturb")
    planned = journals.load(seeded_repo / ".git" / "augnes" / "journal.json")
    assert planned is not None and planned.entries
    assert {e.operator for e in planned.entries} == {"perturb"}


def _heldout_rows(repo: Path) -> list[tuple[str, str, int, float, str | None]]:
    text = git(repo, "show", "main:lineage/heldout.jsonl")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return sorted((r["strategy"], r["goal_id"], r["seed"], r["reward"], r["failure"]) for r in rows)


def test_held_out_scores_come_from_the_evaluation_job_as_a_local_run_finds_them(
    on_github: tuple[Emulator, Path], _seeded_template: Path, tmp_path: Path
) -> None:
    """The select job runs no strategy code: each new elite's held-out episodes come in its
    evaluation artifact, and are the very episodes `augnes run` scores it on locally."""
    _, repo = on_github
    g0 = half_generation(repo, tmp_path)["summary"]
    local = tmp_path / "local"
    shutil.copytree(_seeded_template, local, symlinks=True)
    augnes(local, "run", "--until-generation", "0")
    on_github_rows, local_rows = _heldout_rows(repo), _heldout_rows(local)
    assert {r[0] for r in on_github_rows} == set(SEED_STRATEGIES)
    assert not [r for r in on_github_rows if r[4] is not None]  # no failure: really run
    # a model-based strategy plans with the world models of its moment: locally those
    # trained on the generation's own transitions, on GitHub those recorded at the harness
    assert [r for r in on_github_rows if r[0] != "mpc"] == [r for r in local_rows if r[0] != "mpc"]
    assert g0["best_heldout_score"] is not None and g0["best_heldout_score"] > 0
    assert f"(held-out {g0['best_heldout_score']:.4f})" in augnes(repo, "status")
