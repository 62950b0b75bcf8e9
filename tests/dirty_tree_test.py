"""A person's uncommitted edits while the bot moves the branch they stand on: kept, carried
along, and never a way for an ordinary `git commit -a` to revert what the bot recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.loop import Event, Loop
from bot.workspace import Workspace
from tests.conftest import git


def run(repo: Path, generations: int) -> list[Event]:
    events: list[Event] = []
    Loop(Workspace.open(repo), on_event=events.append).run(
        generations=generations, until=None, mutations=2
    )
    return events


@pytest.mark.slow
def test_an_edit_in_a_strategy_folder_survives_a_run_and_commits_as_itself(
    seeded_repo: Path,
) -> None:
    # one strategy, far from its best: the bot's first merges go into its folder
    for folder in (seeded_repo / "strategies").iterdir():
        if folder.name != "heuristic":
            git(seeded_repo, "rm", "-rq", str(folder))
    poor = seeded_repo / "strategies" / "heuristic" / "params.json"
    values = json.loads(poor.read_text())
    values.update(cart_angle_gain=0.0, pend_kp=0.0, car_position_bias=0.0)
    poor.write_text(json.dumps(values, indent=2) + "\n")
    git(seeded_repo, "commit", "-qam", "only the heuristic, detuned")
    run(seeded_repo, 0)
    # an uncommitted edit in every strategy folder: whichever one the bot merges into
    edited = {}
    for params in sorted((seeded_repo / "strategies").glob("*/params.json")):
        values = json.loads(params.read_text())
        key = next((k for k, v in sorted(values.items()) if isinstance(v, float)), None)
        if key is None:
            continue
        values[key] = 0.123
        params.write_text(json.dumps(values, indent=2) + "\n")
        edited[str(params.relative_to(seeded_repo))] = key
    before = git(seeded_repo, "rev-parse", "main")

    events = run(seeded_repo, 4)

    main = git(seeded_repo, "rev-parse", "main")
    assert main != before
    merged_into = set(git(seeded_repo, "diff", "--name-only", before, main).splitlines())
    assert git(seeded_repo, "diff", "--cached", "--name-only") == ""  # nothing staged
    kept = {e.detail.split(":")[0] for e in events if "your uncommitted edit" in e.detail}
    for path, key in edited.items():  # each edit is there, on top of what the bot merged
        assert json.loads((seeded_repo / path).read_text())[key] == 0.123, path
        if path in merged_into and path not in kept:
            theirs = json.loads(git(seeded_repo, "show", f"main:{path}"))
            mine = json.loads((seeded_repo / path).read_text())
            assert {k: v for k, v in mine.items() if k != key} == {
                k: v for k, v in theirs.items() if k != key
            }
    # the ordinary commit right after the run carries the person's edits and nothing else
    git(seeded_repo, "commit", "-qam", "my edits")
    changed = git(seeded_repo, "diff", "--name-only", "HEAD~1", "HEAD").splitlines()
    assert set(changed) <= set(edited)
    assert not [p for p in changed if p.startswith("lineage/")]
