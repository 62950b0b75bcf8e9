"""Online bin packing: the trusted side packs exactly as a reference packer does, refuses
malformed priorities, and the loop evolves a priority strategy on the suite."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bot.evaluator import packing_instance, strategy_session
from bot.goals import Goal
from bot.loop import Loop
from bot.sandbox import open_sandbox
from bot.workspace import Workspace
from tests.conftest import commit_file, git

SMALL = {"items": 400, "episodes": 3}


@pytest.fixture
def packing_repo(seeded_repo: Path) -> Path:
    """The seeded repository switched to the bin-packing suite, with small instances."""
    goal = seeded_repo / "benchmarks" / "binpacking" / "goals" / "weibull5k.toml"
    text = goal.read_text()
    for key, value in SMALL.items():
        text = "\n".join(
            f"{key} = {value}" if line.startswith(f"{key} =") else line
            for line in text.splitlines()
        )
    goal.write_text(text + "\n")
    pyproject = seeded_repo / "pyproject.toml"
    commit_file(
        seeded_repo,
        "pyproject.toml",
        pyproject.read_text().replace('suite = "control"', 'suite = "binpacking"'),
    )
    git(seeded_repo, "add", "-A")
    git(seeded_repo, "commit", "-qm", "bin packing")
    return seeded_repo


def reference(sizes: np.ndarray, capacity: float, rule: str) -> int:
    """Bins used by first fit or best fit, packed the plain way."""
    bins: list[float] = []
    for item in sizes:
        fits = [i for i, room in enumerate(bins) if room >= item]
        if not fits:
            bins.append(capacity - item)
            continue
        i = fits[0] if rule == "firstfit" else min(fits, key=lambda k: (bins[k] - item, k))
        bins[i] -= item
    return len(bins)


def test_instances_are_fixed_draws_in_range() -> None:
    goal = Goal(goal_id="w", kind="binpacking", min_reward=-10, optimal_reward=0, items=5000)
    a, b = packing_instance(goal, 7), packing_instance(goal, 7)
    assert np.array_equal(a, b) and not np.array_equal(a, packing_instance(goal, 8))
    assert a.min() >= 1 and a.max() <= 100 and np.all(a == np.round(a))
    assert 38 < a.mean() < 42  # Weibull(3, 45) has mean 45·Γ(4/3) ≈ 40.2


@pytest.mark.parametrize("rule", ["firstfit", "bestfit"])
def test_the_trusted_packer_matches_a_reference(packing_repo: Path, rule: str) -> None:
    ws = Workspace.open(packing_repo)
    goal = ws.suite.goal("weibull5k")
    sandbox = open_sandbox(ws.config.evaluation)
    try:
        with strategy_session(ws, sandbox, ws.main_sha(), rule) as session:
            episodes = session.run([(goal, ws.suite.seeds(goal), 0)])
            assert session.exchange_seconds > 0
    finally:
        sandbox.close()
    for e in episodes:
        sizes = packing_instance(goal, e.seed)
        bound = math.ceil(sizes.sum() / goal.capacity)
        bins = reference(sizes, float(goal.capacity), rule)
        assert e.failure is None and e.steps == goal.items
        assert e.reward == pytest.approx(-100.0 * (bins - bound) / bound)


def write_strategy(repo: Path, name: str, body: str) -> None:
    folder = repo / "strategies" / name
    folder.mkdir()
    (folder / "strategy.toml").write_text(
        f'name = "{name}"\nfamily = "{name}"\nentry = "policy.py:make_policy"\n'
        'suites = ["binpacking"]\n'
    )
    (folder / "params.json").write_text("{}\n")
    (folder / "policy.py").write_text(
        "import numpy as np\n\n\nclass P:\n    def act(self, obs):\n"
        f"        {body}\n\n\ndef make_policy(params, spec):\n    return P()\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", name)


@pytest.mark.parametrize(
    ("name", "body", "failure"),
    [
        ("short", "return np.zeros(obs.shape[1] - 2)", "invalid_action"),
        ("nan", "return np.full(obs.shape[1] - 1, np.nan)", "invalid_action"),
        ("boom", "raise RuntimeError('no')", "crash"),
        ("alone", "s = np.zeros(obs.shape[1] - 1); s[-1] = 1; return s", None),
    ],
)
def test_malformed_priorities_fail_the_instance(
    packing_repo: Path, name: str, body: str, failure: str | None
) -> None:
    write_strategy(packing_repo, name, body)
    ws = Workspace.open(packing_repo)
    goal = ws.suite.goal("weibull5k")
    sandbox = open_sandbox(ws.config.evaluation)
    try:
        with strategy_session(ws, sandbox, ws.main_sha(), name) as session:
            episodes = session.run([(goal, ws.suite.seeds(goal), 0)])
    finally:
        sandbox.close()
    assert all(e.failure == failure for e in episodes)
    if failure is None:  # always the empty bin: one bin per item
        for e in episodes:
            sizes = packing_instance(goal, e.seed)
            bound = math.ceil(sizes.sum() / goal.capacity)
            assert e.reward == pytest.approx(-100.0 * (goal.items - bound) / bound)
    else:
        assert all(e.reward == goal.min_reward for e in episodes)


def test_the_loop_evolves_the_priority_family(packing_repo: Path) -> None:
    summaries = Loop(Workspace.open(packing_repo)).run(generations=2, until=None, mutations=3)
    assert [s.generation for s in summaries] == [0, 1, 2]
    stats = json.loads(git(packing_repo, "show", "main:lineage/strategy_stats.json"))
    assert set(stats["elites"]) == {"bestfit", "firstfit", "priority"}
    children = [v for v in stats["variants"].values() if v["parents"]]
    assert children and all(v["strategy"] == "priority" for v in children)
    lines = git(packing_repo, "show", "main:lineage/judgments.jsonl").splitlines()
    judged = [json.loads(line) for line in lines]
    assert {j["goal_id"] for j in judged} == {"weibull5k"}
    for j in judged:  # regret is the excess over the lower bound, in percent
        assert j["regret"] == pytest.approx(-j["reward"], abs=1e-6) and j["regret"] >= 0
    best = stats["variants"][stats["elites"]["bestfit"]]["goals"]["weibull5k"]["avg_regret"]
    first = stats["variants"][stats["elites"]["firstfit"]]["goals"]["weibull5k"]["avg_regret"]
    assert best < first  # best fit packs tighter than first fit


def test_two_suites_in_one_run_each_strategy_on_its_own(seeded_repo: Path) -> None:
    """control and binpacking together: every strategy evaluated and scored on the goals of
    the suites its manifest names, nothing else."""
    goal = seeded_repo / "benchmarks" / "binpacking" / "goals" / "weibull5k.toml"
    text = (
        goal.read_text()
        .replace("items = 5000", "items = 300")
        .replace("episodes = 5", "episodes = 2")
    )
    goal.write_text(text)
    pyproject = seeded_repo / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('suite = "control"', 'suite = ["control", "binpacking"]')
    )
    git(seeded_repo, "add", "-A")
    git(seeded_repo, "commit", "-qm", "both suites")
    Loop(Workspace.open(seeded_repo)).run(generations=1, until=None, mutations=3)
    stats = json.loads(git(seeded_repo, "show", "main:lineage/strategy_stats.json"))
    assert set(stats["elites"]) >= {"heuristic", "bestfit", "priority"}
    packing = {"bestfit", "firstfit", "priority"}
    for v in stats["variants"].values():
        goals = set(v["goals"])
        if v["strategy"] in packing:
            assert goals == {"weibull5k"}
        else:
            assert "weibull5k" not in goals and "cartpole" in goals
        # scored on its own goals: the mean of its goals' reward_norm (equal weights)
        mean = sum(g["mean_reward_norm"] for g in v["goals"].values()) / len(goals)
        assert v["benchmark_score"] == pytest.approx(mean, abs=1e-5)
