"""The real loop with the GitHub forge, against the emulator: pull requests opened, merged
with merge commits on the remote, closed with the reason, lineage pushed to main, archive
refs pushed, and every request within GitHub's description."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bot.loop import Loop
from bot.workspace import Workspace
from tests.conftest import SEED_STRATEGIES, git
from tests.github.emulator import Emulator

READS = {
    "issues/list-for-repo",
    "issues/list-labels-on-issue",
    "pulls/list",
    "pulls/get",
    "issues/list-comments",
    "issues/get-label",
    "users/get-authenticated",
}


def test_a_generation_on_github(on_github: tuple[Emulator, Path]) -> None:
    emulator, repo = on_github
    ws = Workspace.open(repo)
    assert ws.forge.name == "github"
    assert [s.generation for s in Loop(ws).run(generations=0, until=0, mutations=4)] == [0]
    # generations of 4 children until one merges, so that merging and closing both run;
    # the requests of that generation are the ones counted
    for _ in range(6):
        mark = len(emulator.log)
        before = set(emulator.pulls)
        (g,) = Loop(Workspace.open(repo)).run(generations=1, until=None, mutations=4)
        if g.merged:
            break
    assert g.merged >= 1, "a merge should be exercised"
    pulls = [p for n, p in emulator.pulls.items() if n not in before]
    assert len(pulls) == 4 == g.merged + g.closed
    merged = [p for p in pulls if p.merged]
    assert len(merged) == g.merged
    assert emulator.git("rev-parse", "main") == git(repo, "rev-parse", "main")  # lineage pushed
    assert "selection" in emulator.git("log", "-1", "--format=%s", "main")
    for pr in merged:  # a real merge commit of the benchmarked head, on the remote
        assert emulator.git("merge-base", "--is-ancestor", pr.head_sha, "main") == ""
    for pr in pulls:
        if not pr.merged:
            assert pr.state == "closed" and "augnes:rejected" in pr.labels
    archived = emulator.git("for-each-ref", "--format=%(refname)", "refs/augnes/archive")
    assert len(archived.splitlines()) == len(SEED_STRATEGIES) + 4 * g.generation
    # the budget: 6 writes for a merged candidate (pull request, labels, status, report,
    # merge, final labels), 5 for a closed one (closing sets its labels); labels are
    # created once per repository
    ops = Counter(op for _, op, _ in emulator.log[mark:])
    # the dashboard issue (made after generation 0) is rewritten after each generation;
    # closing a pull request goes through issues/update too
    assert ops["issues/create"] == 0 and ops["issues/list-for-repo"] == 1
    assert ops["issues/update"] == g.closed + 1
    dashboard = next(iter(emulator.issues.values()))
    assert "augnes:dashboard" in dashboard.labels
    assert f"## Generation {g.generation}" in dashboard.body
    assert "### Leaderboard" in dashboard.body and "| cartpole |" in dashboard.body
    once = ops["issues/create-label"] + 1  # the dashboard's update
    writes = sum(n for op, n in ops.items() if op not in READS) - once
    assert writes == 6 * g.merged + 5 * g.closed, ops
    reads = sum(n for op, n in ops.items() if op in READS)
    reads -= ops["issues/get-label"] + ops["users/get-authenticated"] + ops["issues/list-for-repo"]
    # per pull request: look for it, read its labels (people's controls), find the report;
    # per generation, once the archive has pull requests: the open ones (people's pushes)
    listing = 1 if g.generation > 1 else 0
    assert reads == 3 * len(pulls) + listing, ops
