from __future__ import annotations

from pathlib import Path

from bot.lineage_files import append_jsonl, atomic_write, jsonl_line
from bot.records import Judgment
from bot.workspace import Workspace


def judgment(variant: str, episode: int) -> Judgment:
    return Judgment(
        ts="t", run_id="r", generation=1, goal_id="g", strategy="s", variant=variant, parent_id=None,
        mutation_id=variant, operator="perturb", commit="0" * 40, episode=episode, seed=episode,
        reward=0.0, reward_norm=0.5, expected_optimal=1.0, regret=0.5, advantage=0.0,
        success=False, failure=None, steps=1, duration_s=0.0, benchmark_score=0.5,
    )  # fmt: skip


def test_pending_judgments_follow_appends_and_replacement(seeded_repo: Path) -> None:
    ws = Workspace.open(seeded_repo)
    append_jsonl(ws.pending_path, [judgment("c-a", 0), judgment("c-a", 1)])
    assert [j.episode for j in ws.pending_judgments()] == [0, 1]
    append_jsonl(ws.pending_path, [judgment("c-a", 2)])
    assert [j.episode for j in ws.pending_judgments()] == [0, 1, 2]
    # emptied by the stats commit, then refilled past the old size: read from the start again
    atomic_write(ws.pending_path, b"")
    atomic_write(
        ws.pending_path, "".join(jsonl_line(judgment("c-b", i)) for i in range(5)).encode()
    )
    assert [(j.variant, j.episode) for j in ws.pending_judgments()] == [
        ("c-b", i) for i in range(5)
    ]
