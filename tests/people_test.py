"""A person's commit on main is never undone silently by a merge: a child that would set
back what a person committed after its parent was made says so in its pull request, and a
generation planned before a person's commit merges nothing over it unjudged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.journal import Journal
from bot.loop import Event, Loop
from bot.records import Judgment
from bot.workspace import Workspace
from tests.conftest import git


def run(repo: Path, generations: int, mutations: int = 4) -> list[Event]:
    events: list[Event] = []
    Loop(Workspace.open(repo), on_event=events.append).run(
        generations=generations, until=None, mutations=mutations
    )
    return events


def planned(repo: Path, mutations: int = 6) -> Journal:
    """A generation planned and proposed (branches, pull requests), then the run stopped:
    the state `kill -9` leaves after planning."""
    loop = Loop(Workspace.open(repo))
    journal = loop.plan(mutations=mutations)
    loop._save(journal)
    loop._materialise(journal)
    return journal


def set_param(repo: Path, strategy: str, value: float) -> str:
    path = repo / "strategies" / strategy / "params.json"
    params = json.loads(path.read_text())
    key = next(k for k, v in sorted(params.items()) if isinstance(v, float))
    params[key] = value
    path.write_text(json.dumps(params, indent=2) + "\n")
    git(repo, "commit", "-qam", f"a person sets {key}")
    return key


def only(repo: Path, operators: list[str]) -> None:
    """The `linear` strategy alone, evolved by `operators`."""
    for folder in (repo / "strategies").iterdir():
        if folder.name != "linear":
            git(repo, "rm", "-rq", str(folder))
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text() + f"\n[tool.augnes.variation]\noperators = {json.dumps(operators)}\n"
    )
    git(repo, "commit", "-qam", "linear alone")


@pytest.mark.slow
def test_a_persons_commit_during_a_generation_is_benchmarked_before_anything_merges_over_it(
    seeded_repo: Path,
) -> None:
    run(seeded_repo, 0)
    journal = planned(seeded_repo)
    on_main = {p.name for p in (seeded_repo / "strategies").iterdir()}
    child = next(e for e in journal.entries if not e.baseline and e.strategy in on_main)
    key = set_param(seeded_repo, child.strategy, 0.123456)  # while the generation waits
    person = git(seeded_repo, "rev-parse", "main")

    events = run(seeded_repo, 1)  # takes the planned generation up again

    decided = {e.candidate: e.detail for e in events if e.kind == "decided"}
    assert decided[child.candidate_id].startswith(
        f"closed: a person changed strategies/{child.strategy} on main in {person[:7]}"
    )
    params = json.loads(git(seeded_repo, "show", f"main:strategies/{child.strategy}/params.json"))
    assert params[key] == 0.123456  # nothing merged over the person's value
    run(seeded_repo, 1)  # the next generation benchmarks the person's variant
    judged = [
        Judgment.model_validate_json(line)
        for line in git(seeded_repo, "show", "main:lineage/judgments.jsonl").splitlines()
    ]
    assert any(j.operator == "human" and j.strategy == child.strategy for j in judged)


@pytest.mark.slow
@pytest.mark.parametrize("edit", ["params", "policy.py"])
def test_a_child_from_an_older_parent_says_what_of_a_persons_commit_it_reverts(
    seeded_repo: Path, edit: str
) -> None:
    only(seeded_repo, ["crossover", "perturb"])
    run(seeded_repo, 1, mutations=6)  # older variants of each family in the archive
    if edit == "params":
        key = set_param(seeded_repo, "linear", 0.123456)
        expect = f"`{key}` 0.123456 → "
    else:
        policy = seeded_repo / "strategies" / "linear" / "policy.py"
        policy.write_text(policy.read_text() + "\n# tuned by hand\n")
        git(seeded_repo, "commit", "-qam", "a person edits the policy")
        expect = "`policy.py` as changed by a person in "
    person = git(seeded_repo, "rev-parse", "main")[:7]

    journal = planned(seeded_repo, mutations=12)

    children = [e for e in journal.entries if not e.baseline and e.strategy == "linear"]
    assert children and any(e.operator == "crossover" for e in children)
    forge = Workspace.open(seeded_repo).forge
    for e in children:
        assert "; also reverts " in e.summary and expect in e.summary, e.summary
        assert person in e.summary
        assert e.pr is not None
        pull = forge.get_pull(e.pr)
        assert expect in pull.title and expect in pull.body
    # they are judged against the person's variant: benchmarked in this generation, it is
    # the niche's elite they must beat
    assert [e.operator for e in journal.entries if e.baseline and e.strategy == "linear"] == [
        "human"
    ]
