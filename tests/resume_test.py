"""Interrupting `augnes run` with SIGKILL at several points, then running it again, gives the
same record as a run that was never interrupted: no duplicate and nothing lost."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.loop import Loop
from bot.records import Judgment, StrategyStatsFile
from bot.workspace import Workspace
from tests.conftest import ROOT, git

UNTIL = ["run", "--until-generation", "2", "--mutations", "3"]


def augnes(repo: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "-C", str(repo), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # as from a terminal: a shell that starts the suite in the background (no job
        # control) hands on SIGINT ignored, and the Ctrl-C test would send it in vain
        preexec_fn=_interruptible,
    )


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def finish(repo: Path) -> None:
    proc = augnes(repo, *UNTIL)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err.decode()


def record(repo: Path) -> dict[str, object]:
    stats = StrategyStatsFile.model_validate_json(
        git(repo, "show", "main:lineage/strategy_stats.json")
    )
    judgments = [
        Judgment.model_validate_json(x)
        for x in git(repo, "show", "main:lineage/judgments.jsonl").splitlines()
    ]
    pulls = [
        json.loads(p.read_text()) for p in sorted((repo / ".git/augnes/forge/pulls").glob("*.json"))
    ]
    branches = git(repo, "for-each-ref", "--format=%(refname)", "refs/heads/augnes/").splitlines()
    archive = git(repo, "for-each-ref", "--format=%(refname)", "refs/augnes/archive/").splitlines()
    return {
        "variants": {
            k: (v.decision, v.status, round(v.selection_score, 6))
            for k, v in stats.variants.items()
        },
        "judgments": sorted(
            (j.variant, j.goal_id, j.episode, j.reward, j.failure) for j in judgments
        ),
        "duplicates": len(judgments) - len({j.key for j in judgments}),
        "pulls": sorted((p["branch"], p["state"]) for p in pulls),
        "branches": branches,
        "archive": archive,
        "generations": [s.generation for s in stats.generations],
        "main_subjects": git(repo, "log", "--first-parent", "--format=%s", "main").splitlines(),
        "work_tree_changes": git(repo, "status", "--porcelain"),  # it followed main in the end
    }


@pytest.fixture(scope="module")
def reference(
    tmp_path_factory: pytest.TempPathFactory, _seeded_template: Path
) -> dict[str, object]:
    repo = tmp_path_factory.mktemp("reference") / "repo"
    shutil.copytree(_seeded_template, repo, symlinks=True)
    finish(repo)
    return record(repo)


def pending(repo: Path) -> bool:
    path = repo / ".git/augnes/pending-judgments.jsonl"
    return path.exists() and path.stat().st_size > 0


def decided(repo: Path) -> bool:
    return (
        any(
            '"state": "merged"' in p.read_text() or '"state": "closed"' in p.read_text()
            for p in (repo / ".git/augnes/forge/pulls").glob("*.json")
        )
        if (repo / ".git/augnes/forge/pulls").exists()
        else False
    )


def second_generation(repo: Path) -> bool:
    journal = repo / ".git/augnes/journal.json"
    try:
        return journal.exists() and '"generation": 2' in journal.read_text()
    except OSError:
        return False


POINTS: dict[str, Callable[[Path], bool]] = {
    "planned": lambda repo: (repo / ".git/augnes/journal.json").exists(),
    "evaluating": pending,
    "selecting": decided,
    "next-generation": second_generation,
}


@pytest.mark.slow
@pytest.mark.parametrize("point", sorted(POINTS))
def test_sigkill_then_rerun_gives_the_uninterrupted_record(
    point: str, reference: dict[str, object], _seeded_template: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(_seeded_template, repo, symlinks=True)
    proc = augnes(repo, *UNTIL)
    deadline = time.monotonic() + 120
    while not POINTS[point](repo):
        assert proc.poll() is None, "the run ended before the kill point"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if point != "selecting":  # (a merge moves main a few ms before the work tree follows)
        # what the kill leaves behind never turns `git commit -a` into a revert of records
        assert git(repo, "status", "--porcelain") == ""
    finish(repo)
    assert record(repo) == reference
    assert reference["duplicates"] == 0


@pytest.mark.slow
def test_two_kills_in_a_row(
    reference: dict[str, object], _seeded_template: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(_seeded_template, repo, symlinks=True)
    for condition in (pending, decided):
        proc = augnes(repo, *UNTIL)
        while not condition(repo) and proc.poll() is None:
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finish(repo)
    assert record(repo) == reference


def test_no_worker_survives_the_bot(seeded_repo: Path) -> None:
    proc = augnes(seeded_repo, *UNTIL)
    while not pending(seeded_repo):
        assert proc.poll() is None
        time.sleep(0.002)
    pids = descendants(proc.pid)  # zygotes, bubblewrap, workers and their keepers
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    assert pids and not any(_alive(p) for p in pids)


def descendants(root: int) -> list[int]:
    """Every process below `root`, from the parent links in /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


@pytest.mark.slow
def test_ctrl_c_then_rerun_gives_the_uninterrupted_record(
    reference: dict[str, object], _seeded_template: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(_seeded_template, repo, symlinks=True)
    proc = augnes(repo, *UNTIL)
    while not pending(repo):
        assert proc.poll() is None
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and b"Aborted" in err
    finish(repo)
    assert record(repo) == reference


def damaged(repo: Path) -> None:
    """A repository in need of every repair at once: a generation in progress whose base
    was undone, a committed judgments file whose last line lost its newline, and a
    person's uncommitted edit in a file the run rewrites beside one it leaves alone."""
    finish_first = augnes(repo, "run", "--until-generation", "1", "--mutations", "3")
    _, err = finish_first.communicate(timeout=240)
    assert finish_first.returncode == 0, err.decode()
    loop = Loop(Workspace.open(repo))
    journal = loop.plan(mutations=3)
    loop._save(journal)
    loop._materialise(journal)
    git(repo, "reset", "-q", "--hard", "main~1")  # generation 1 undone
    path = repo / "lineage" / "judgments.jsonl"
    path.write_text(path.read_text().rstrip("\n"))
    git(repo, "commit", "-qam", "an editor ate the last newline")
    (repo / "lineage" / "README.md").write_text("my notes\n")


def recorded(repo: Path, generation: int) -> bool:
    out = subprocess.run(
        ["git", "-C", str(repo), "show", "main:lineage/strategy_stats.json"],
        capture_output=True,
        text=True,
    ).stdout
    return f'"generation": {generation},' in out


REPAIR_POINTS: dict[str, Callable[[Path], bool]] = {
    "starting": lambda repo: True,
    "set aside": lambda repo: any((repo / ".git/augnes").glob("journal.undone-*")),
    "evaluating": pending,
    "recorded": lambda repo: recorded(repo, 1),
}


@pytest.mark.slow
@pytest.mark.parametrize("point", sorted(REPAIR_POINTS))
def test_sigkill_in_the_middle_of_the_repairs_then_rerun(
    point: str, _seeded_template: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(_seeded_template, repo, symlinks=True)
    damaged(repo)
    proc = augnes(repo, *UNTIL)
    deadline = time.monotonic() + 120
    while not REPAIR_POINTS[point](repo) and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finish(repo)
    state = record(repo)
    assert state["duplicates"] == 0
    assert state["generations"] == [0, 1, 2]
    lines = git(repo, "show", "main:lineage/judgments.jsonl").splitlines()
    assert all(Judgment.model_validate_json(line) for line in lines)  # none glued together
    assert (repo / "lineage" / "README.md").read_text() == "my notes\n"
    assert git(repo, "diff", "--cached", "--name-only") == ""
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == "M lineage/README.md"
    assert len(list((repo / ".git" / "augnes").glob("journal.undone-g002-*.json"))) == 1
