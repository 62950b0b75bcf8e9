"""The capacity decision on constructed curves, and the commands end to end on real
transitions: train, a small sweep, the loop reading the decision, background training."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.loop import Event, Loop
from bot.workspace import Workspace
from bot.world_model.capacity import HOLD, INCREASE, Experiment, decide, gains
from bot.world_model.store import committed_stats
from tests.conftest import commit_file, git

SVG = "{http://www.w3.org/2000/svg}"


def experiment(hidden: int, regret_norm: float, buffer: int = 10_000) -> Experiment:
    return Experiment(
        hidden_dim=hidden,
        buffer_size=buffer,
        avg_regret=regret_norm * 100,
        avg_regret_norm=regret_norm,
        avg_advantage=0.0,
        model_val_mse=0.01,
        model_val_nmse=0.1,
        train_seconds=1.0,
        eval_seconds=1.0,
        goals={},
    )


def test_the_decision_flips_between_hold_and_increase() -> None:
    # regret falls fast up to 32 hidden units, then flattens
    curve = [experiment(8, 0.60), experiment(16, 0.40), experiment(32, 0.30), experiment(64, 0.298)]
    assert [g.gain for g in gains(curve)] == [0.2, 0.1, 0.002]
    decision, nxt, gain, alert = decide(curve, capacity=16, epsilon=0.01)
    assert (decision, nxt, gain, alert) == (INCREASE, 32, 0.1, None)
    decision, nxt, gain, alert = decide(curve, capacity=32, epsilon=0.01)
    assert (decision, nxt, gain) == (HOLD, 32, 0.002)
    assert alert is not None and "below ε = 0.01" in alert
    # a stricter ε holds earlier; a looser one keeps increasing
    assert decide(curve, capacity=16, epsilon=0.15)[0] == HOLD
    assert decide(curve, capacity=32, epsilon=0.001)[:2] == (INCREASE, 64)
    # only the largest buffer counts, and the top of the range has nothing to compare
    small = [experiment(16, 0.9, 1000), experiment(32, 0.1, 1000)]
    assert decide([*curve, *small], capacity=32, epsilon=0.01)[0] == HOLD
    assert decide(curve, capacity=64, epsilon=0.0)[0] == HOLD


def invoke(repo: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["-C", str(repo), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_train_commits_the_models_and_the_mpc_strategy_uses_them(sampled_repo: Path) -> None:
    output = invoke(sampled_repo, "world-model", "train", "--hidden-dim", "8,16")
    assert "committed" in output
    ws = Workspace.open(sampled_repo)
    stats = committed_stats(ws, ws.main_sha())
    assert stats is not None and sorted(stats.models) == sorted(
        f"{g.goal_id}/h{h}" for g in ws.suite.goals for h in (8, 16)
    )
    record = stats.models["pendulum/h16"]
    assert record.val_nmse < record.zero_nmse and record.sha256
    assert git(sampled_repo, "cat-file", "-t", f"main:{record.weights}") == "blob"
    assert "world model" in git(sampled_repo, "log", "-1", "--format=%s", "main")
    shown = json.loads(invoke(sampled_repo, "world-model", "show", "--json"))
    assert shown["models"]["pendulum/h16"]["sha256"] == record.sha256

    # the model-based seed, evaluated again: it now plans with a model of 16 hidden units
    params = json.loads((sampled_repo / "strategies" / "mpc" / "params.json").read_text())
    params["model_dim"] = "16"
    commit_file(sampled_repo, "strategies/mpc/params.json", json.dumps(params, indent=2))
    summaries = Loop(Workspace.open(sampled_repo)).run(generations=1, until=None, mutations=1)
    assert summaries
    stats_file = json.loads(git(sampled_repo, "show", "main:lineage/strategy_stats.json"))
    mpc = [v for v in stats_file["variants"].values() if v["strategy"] == "mpc"]
    seed, edited = sorted(mpc, key=lambda v: v["generation"])[:2]
    cart = {v["candidate_id"]: v["goals"]["cartpole"]["mean_reward_norm"] for v in (seed, edited)}
    # random play (no model of 32 units was trained) against planning with the model
    assert cart[edited["candidate_id"]] > cart[seed["candidate_id"]] + 0.2


def test_a_small_sweep_decides_and_the_loop_caps_new_children(sampled_repo: Path) -> None:
    output = invoke(
        sampled_repo,
        "capacity",
        "sweep",
        "--hidden-dim",
        "4,8",
        "--buffer-size",
        "500,1000",
        "--episodes",
        "1",
    )
    assert "decision:" in output
    capacity = json.loads(git(sampled_repo, "show", "main:lineage/capacity.json"))
    latest = capacity["latest"]
    assert [(e["hidden_dim"], e["buffer_size"]) for e in latest["experiments"]] == [
        (4, 500),
        (8, 500),
        (4, 1000),
        (8, 1000),
    ]
    for e in latest["experiments"]:
        assert set(e["goals"]) == {"acrobot", "cartpole", "mountaincar", "pendulum"}
        assert e["train_seconds"] > 0 and e["model_val_nmse"] > 0
    # capacity 32 (the configured one) lies above every measured size: hold, with an alert
    assert latest["decision"] == "hold" and latest["next_capacity"] == 32 and latest["alert"]
    stats = json.loads(git(sampled_repo, "show", "main:lineage/strategy_stats.json"))
    assert stats["capacity"]["decision"] == "hold"
    # the plot draws every experiment: a point per (hidden units, buffer) in each sweep panel,
    # a point per goal and hidden size in the per-goal panel, and the decision in its title
    root = ET.fromstring(git(sampled_repo, "show", "main:lineage/plots/capacity.svg"))
    points = [
        (
            g.get("data-title"),
            sorted((c.findtext(f"{SVG}title") or "").split(",")[0] for c in g.iter(f"{SVG}circle")),
        )
        for g in root.iter(f"{SVG}g")
        if g.get("data-title")
    ]
    sweep = sorted(
        f"{e['buffer_size']} transitions: {e['hidden_dim']}" for e in latest["experiments"]
    )
    per_goal = sorted(
        f"{goal}: {hidden}" for goal in latest["experiments"][0]["goals"] for hidden in (4, 8)
    )
    assert points == [
        ("avg regret", sweep),
        ("normalised regret (1 − reward_norm)", sweep),
        ("model error (validation nMSE, mean of goals)", sweep),
        ("model error per goal (1000 transitions)", per_goal),
    ]
    heading = "".join(t.text or "" for t in root.findall(f"{SVG}text"))
    assert "hold (capacity 32 → 32)" in heading

    # the loop reads it: a model-based child never asks for more than 32 hidden units
    events: list[Event] = []
    Loop(Workspace.open(sampled_repo), on_event=events.append).run(
        generations=2, until=None, mutations=4
    )
    stats = json.loads(git(sampled_repo, "show", "main:lineage/strategy_stats.json"))
    assert stats["capacity"]["decision"] == "hold"  # carried through the generations
    for cid, v in stats["variants"].items():
        if v["strategy"] == "mpc":
            params = json.loads(
                git(sampled_repo, "show", f"refs/augnes/archive/{cid}:strategies/mpc/params.json")
            )
            assert int(params["model_dim"]) <= 32


@pytest.mark.slow
def test_the_loop_learns_in_the_background(sampled_repo: Path) -> None:
    pyproject = (sampled_repo / "pyproject.toml").read_text()
    commit_file(
        sampled_repo,
        "pyproject.toml",
        pyproject
        + "\n[tool.augnes.world_model]\nenabled = true\nhidden_dim = 8\ntransitions = 400\n"
        "max_epochs = 20\n",
    )
    events: list[Event] = []
    Loop(Workspace.open(sampled_repo), on_event=events.append).run(
        generations=2, until=None, mutations=2
    )
    assert any("retraining" in e.detail for e in events)
    ws = Workspace.open(sampled_repo)
    stats = committed_stats(ws, ws.main_sha())
    assert stats is not None and set(stats.goals) == {g.goal_id for g in ws.suite.goals}
    assert all(r.hidden_dim == 8 and r.generation >= 1 for r in stats.goals.values())
    subjects = git(sampled_repo, "log", "--format=%s", "main").splitlines()
    assert subjects[0].startswith("augnes(g")  # nothing left uncommitted at the end
