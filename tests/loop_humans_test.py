"""Humans win: a person's commit on a bot branch is benchmarked as operator `human`, and the
labels augnes:stop and augnes:rerun are obeyed across generations (local forge)."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

from bot.forge import RERUN, STATES, STOP
from bot.forge.local_forge import LocalForge
from bot.loop import Event, Loop
from bot.records import Judgment, StrategyStatsFile
from bot.repo import Repo
from bot.workspace import Workspace
from tests.conftest import git


def run(repo: Path, *, mutations: int, stop_first: bool = False) -> list[Event]:
    """One more generation; with `stop_first`, the first pull request opened is labelled
    augnes:stop by a person while it is being evaluated, so it stays open."""
    forge = LocalForge(Repo(repo))
    events: list[Event] = []

    def on_event(event: Event) -> None:
        events.append(event)
        if stop_first and event.kind == "evaluating" and forge.list_pulls(state="open"):
            first = forge.list_pulls(state="open")[0]
            if STOP not in first.labels:
                forge.set_labels(first.number, [*first.labels, STOP])

    Loop(Workspace.open(repo), on_event=on_event).run(
        generations=1, until=None, mutations=mutations
    )
    return events


def lineage(repo: Path) -> tuple[StrategyStatsFile, list[Judgment]]:
    stats = StrategyStatsFile.model_validate_json(
        git(repo, "show", "main:lineage/strategy_stats.json")
    )
    lines = git(repo, "show", "main:lineage/judgments.jsonl").splitlines()
    return stats, [Judgment.model_validate_json(line) for line in lines]


def relabel(repo: Path, number: int, *, drop: str = "", add: str = "") -> None:
    """What a person does in the forge's label menu."""
    forge = LocalForge(Repo(repo))
    ours = [x for x in forge.labels(number) if x in ("augnes", *STATES)]
    forge.set_labels(number, ours + ([add] if add else []), drop=[drop] if drop else [])


def push_as_a_person(repo: Path, branch: str, strategy: str) -> str:
    """A person checks out the bot's branch, edits a parameter and commits."""
    git(repo, "checkout", "-q", branch)
    path = repo / "strategies" / strategy / "params.json"
    params = json.loads(path.read_text())
    key = next(k for k, v in sorted(params.items()) if isinstance(v, float))
    declared = tomllib.loads((path.parent / "strategy.toml").read_text())["params"][key]
    step = 0.125 if params[key] + 0.125 <= declared.get("max", math.inf) else -0.125
    params[key] = round(params[key] + step, 6)  # a person's edit inside the declared range
    path.write_text(json.dumps(params, indent=2) + "\n")
    git(repo, "add", str(path))
    git(repo, "commit", "-q", "--author=Ada Person <ada@example.com>", "-m", f"tune {key}")
    sha = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    return sha


def test_a_persons_commit_on_a_bot_branch_is_benchmarked_as_human(seeded_repo: Path) -> None:
    run(seeded_repo, mutations=1)  # the seeds
    run(seeded_repo, mutations=2, stop_first=True)
    forge = LocalForge(Repo(seeded_repo))
    (stopped,) = forge.list_pulls(state="open")
    assert STOP in stopped.labels
    stats, _ = lineage(seeded_repo)
    bot_candidate = next(v for v in stats.variants.values() if v.pr == stopped.number)

    # while augnes:stop is on, the person's commit is theirs alone
    sha = push_as_a_person(seeded_repo, stopped.branch, bot_candidate.strategy)
    events = run(seeded_repo, mutations=1)
    assert not [e for e in events if e.kind == "planned" and "Ada Person" in e.detail]
    assert forge.get_pull(stopped.number).state == "open"

    # the label off: the next generation benchmarks that commit as operator human
    relabel(seeded_repo, stopped.number, drop=STOP)
    events = run(seeded_repo, mutations=1)
    planned = [e for e in events if e.kind == "planned" and "Ada Person" in e.detail]
    assert len(planned) == 1, [e.detail for e in events]
    stats, judgments = lineage(seeded_repo)
    human = stats.variants[str(planned[0].candidate)]
    assert human.operator == "human" and human.commit == sha and human.pr == stopped.number
    assert human.parents == [bot_candidate.candidate_id]
    mine = [j for j in judgments if j.variant == human.candidate_id]
    assert mine and all(j.operator == "human" and j.commit == sha for j in mine)
    assert git(seeded_repo, "rev-parse", f"refs/augnes/archive/{human.candidate_id}") == sha
    pull = forge.get_pull(stopped.number)
    assert pull.state in ("merged", "closed") and pull.head_sha == sha
    report = next(c.body for c in pull.comments if "<!-- augnes:report -->" in c.body)
    assert f"A person's commit {sha}" in report and f"`{human.candidate_id}`" in report
    if pull.state == "merged":  # the person's commit itself is what main merged
        assert git(seeded_repo, "merge-base", "--is-ancestor", sha, "main") == ""
        assert stats.elites[human.strategy] == human.candidate_id

    # decided once: a further generation does not take it up again
    events = run(seeded_repo, mutations=1)
    assert not [e for e in events if e.kind == "planned" and e.candidate == human.candidate_id]


def test_rerun_benchmarks_a_candidate_again_and_decides_anew(seeded_repo: Path) -> None:
    run(seeded_repo, mutations=1)
    run(seeded_repo, mutations=2, stop_first=True)
    forge = LocalForge(Repo(seeded_repo))
    (kept,) = forge.list_pulls(state="open")
    stats, judgments = lineage(seeded_repo)
    candidate = next(v for v in stats.variants.values() if v.pr == kept.number)
    before = [j for j in judgments if j.variant == candidate.candidate_id]
    relabel(seeded_repo, kept.number, drop=STOP, add=RERUN)
    relabel(seeded_repo, kept.number, add="needs-review")  # a person's own label stays

    events = run(seeded_repo, mutations=1)
    assert [e for e in events if e.kind == "planned" and e.candidate == candidate.candidate_id]
    decided = [e for e in events if e.kind == "decided" and e.candidate == candidate.candidate_id]
    assert len(decided) == 1
    pull = forge.get_pull(kept.number)
    assert pull.state in ("merged", "closed")
    assert RERUN not in pull.labels and "needs-review" in pull.labels
    report = next(c.body for c in pull.comments if "<!-- augnes:report -->" in c.body)
    assert "augnes:rerun" in report
    stats, judgments = lineage(seeded_repo)
    after = [j for j in judgments if j.variant == candidate.candidate_id]
    keys = [j.key for j in after]
    assert len(keys) == len(set(keys))  # nothing judged twice
    if candidate.early_stopped:  # the rest of its episodes were run this time
        assert len(after) > len(before) and not stats.variants[candidate.candidate_id].early_stopped
    else:
        assert len(after) == len(before)
    assert stats.variants[candidate.candidate_id].decision.startswith(
        "merged" if pull.state == "merged" else "closed"
    )
