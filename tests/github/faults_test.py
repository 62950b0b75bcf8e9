"""Faults in a real generation on GitHub (the emulator): the bot killed between pushing and
opening, GitHub's 5xx answers, and a branch that moves before its merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.forge.github_forge import GitHubForge
from bot.loop import Loop
from bot.workspace import Workspace
from tests.github.emulator import Emulator, Fault


def run(repo: Path, mutations: int = 3):  # type: ignore[no-untyped-def]
    return Loop(Workspace.open(repo)).run(generations=1, until=None, mutations=mutations)


def one_pull_per_branch(emulator: Emulator) -> None:
    branches = [p.branch for p in emulator.pulls.values()]
    assert len(branches) == len(set(branches))


def test_killed_between_push_and_pull_request_then_rerun(
    on_github: tuple[Emulator, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator, repo = on_github
    real = GitHubForge.open_pull
    calls = {"n": 0}

    def dies_on_the_second(self, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the process is stopped right after the push
        return real(self, **kwargs)

    monkeypatch.setattr(GitHubForge, "open_pull", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        run(repo)
    assert len(emulator.pulls) == 1
    pushed = emulator.git("for-each-ref", "--format=%(refname)", "refs/heads/augnes")
    assert len(pushed.splitlines()) == 3  # every branch was pushed before any pull request
    monkeypatch.setattr(GitHubForge, "open_pull", real)
    summaries = run(repo)
    assert summaries[-1].generation == 1
    assert len(emulator.pulls) == 3
    one_pull_per_branch(emulator)


def test_5xx_bursts_make_no_duplicate(on_github: tuple[Emulator, Path]) -> None:
    emulator, repo = on_github
    emulator.faults += [
        Fault("pulls/create", 502, applied=True),  # made, but the answer is lost
        Fault("pulls/list", 502, times=2),  # then looking for it fails twice
        Fault("issues/list-comments", 503, times=1),
    ]
    summaries = run(repo)
    assert summaries[-1].generation == 1
    assert len(emulator.pulls) == 3
    one_pull_per_branch(emulator)
    assert all(not f.times for f in emulator.faults)


def test_a_branch_that_moves_before_its_merge_is_not_merged(
    on_github: tuple[Emulator, Path],
) -> None:
    emulator, repo = on_github
    moved: list[str] = []

    def a_person_pushes() -> None:
        pr = next(p for p in emulator.pulls.values() if p.state == "open")
        head = emulator.branch_sha(pr.branch)
        assert head
        tree = emulator.git("rev-parse", f"{head}^{{tree}}")
        commit = emulator.git("commit-tree", tree, "-p", head, "-m", "a person's fix")
        emulator.git("update-ref", f"refs/heads/{pr.branch}", commit, head)
        moved.append(pr.branch)

    emulator.faults.append(Fault("pulls/merge", before=a_person_pushes))
    for _ in range(6):  # until a child wins and its merge is attempted
        run(repo, mutations=4)
        if moved:
            break
    assert moved
    pr = next(p for p in emulator.pulls.values() if p.branch == moved[0])
    assert pr.state == "open" and not pr.merged  # humans win: left open, not merged
    report = [c["body"] for c in emulator.comments.values() if c["issue"] == pr.number]
    assert any("not merged" in body and "head moved" in body for body in report)
