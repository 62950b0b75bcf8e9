"""The efficacy benchmark's fast bin-packing path gives the sandboxed path's episodes to the
last digit, and the in-memory loop on top of it makes the decisions `augnes run` makes."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from bot.config import load_config
from bot.evaluator import EnvPool, Session
from bot.goals import load_suite
from bot.loop import Loop
from bot.manifest import dump_params, read_strategy
from bot.operators.resample import GlobalResample
from bot.sandbox import open_sandbox
from bot.workspace import Workspace
from tests.binpacking_test import packing_repo  # noqa: F401 - a fixture
from tests.conftest import ROOT, commit_file, load_benchmark

fastpack = load_benchmark("fastpack")
memory_loop = load_benchmark("memory_loop")

# a priority whose rooms tie in blocks of ten (the table cannot call those), one that keeps
# state between calls, and one that reads positions (neither may be packed by table)
ODD = {
    "ties": "return -np.floor((obs[0, 1:] - obs[0, 0]) / 10.0)",
    "stateful": "self.n = getattr(self, 'n', 0) + 1; return -(obs[0, 1:] - obs[0, 0]) "
    "+ (self.n % 7) * (obs[0, 1:] == obs[0, 1:].max())",
    "positions": "return -np.arange(obs.shape[1] - 1) * (obs[0, 1:] - obs[0, 0])",
}


def write_odd(folder: Path, name: str, body: str) -> Path:
    where = folder / name
    where.mkdir(parents=True)
    (where / "strategy.toml").write_text(
        f'name = "{name}"\nfamily = "{name}"\nentry = "policy.py:make_policy"\n'
        'suites = ["binpacking"]\n'
    )
    (where / "params.json").write_text("{}\n")
    (where / "policy.py").write_text(
        "import numpy as np\n\n\nclass P:\n    def act(self, obs):\n"
        f"        {body}\n\n\ndef make_policy(params, spec):\n    return P()\n"
    )
    return where


def candidates(tmp: Path, draws: int) -> list[Path]:
    """The shipped bin-packing strategies, priorities drawn over their whole declared
    space, and the odd ones above."""
    out = [ROOT / "strategies" / n for n in ("bestfit", "firstfit", "priority")]
    manifest, params = read_strategy(ROOT / "strategies" / "priority")
    rng = random.Random(7)
    for i in range(draws):
        where = tmp / f"drawn{i}" / "priority"
        shutil.copytree(ROOT / "strategies" / "priority", where)
        child, _ = GlobalResample().apply(manifest, [params], rng=rng)
        (where / "params.json").write_text(dump_params(child))
        out.append(where)
    return out + [write_odd(tmp / "odd", n, body) for n, body in ODD.items()]


def test_the_fast_path_packs_exactly_as_the_sandboxed_path(tmp_path: Path) -> None:
    suite = load_suite(ROOT / "benchmarks", "binpacking")
    goal = suite.goals[0].model_copy(update={"items": 1500})
    seeds = suite.seeds(goal)[:8]  # two lanes in flight (see pack_lanes)
    packer = fastpack.Packer(goal, seeds)
    sandbox = open_sandbox(load_config(ROOT).evaluation.model_copy(update={"sandbox": "bwrap"}))
    pool = EnvPool()
    try:
        for folder in candidates(tmp_path, draws=10):
            with Session(sandbox, folder, pool, reply_timeout=10, start_timeout=30) as session:
                slow = session.run([(goal, seeds, 0)])
            make, params = fastpack.load_policy(folder)
            fast = packer.episodes(make, params, code=str(folder))
            assert [(e.episode, e.seed, e.reward, e.steps, e.failure) for e in fast] == [
                (e.episode, e.seed, e.reward, e.steps, e.failure) for e in slow
            ], folder
    finally:
        sandbox.close()
    # the table packed the shipped families; first fit, the stateful and the positional
    # ones were called as the worker calls them; the ties went to the strategy itself
    assert packer.in_lockstep == 3 and packer.by_table == 10 + 3
    assert packer.ties > 0


def test_the_memory_loop_decides_as_augnes_run_does(packing_repo: Path) -> None:  # noqa: F811
    """Six generations of `augnes run` (git, forge, sandbox) and of the in-memory loop
    on the fast path: the same children, by the same operators, merged or closed alike."""
    goal = packing_repo / "benchmarks" / "binpacking" / "goals" / "weibull5k.toml"
    commit_file(  # instances large enough that the priority family leaves best fit's plateau
        packing_repo,
        "benchmarks/binpacking/goals/weibull5k.toml",
        goal.read_text().replace("items = 400", "items = 2000"),
    )
    ws = Workspace.open(packing_repo)
    seeds = memory_loop.strategies_of(packing_repo, ws.suite)  # as committed before the run
    Loop(ws).run(generations=6, until=None, mutations=4)
    real = sorted(
        (v.generation, v.candidate_id, v.operator, v.status, v.early_stopped, v.clone)
        for v in Workspace.open(packing_repo).committed_stats(ws.main_sha()).variants.values()
    )
    loop = memory_loop.MemoryLoop(
        load_config(packing_repo), ws.suite, seeds, fastpack.PackingEvaluate()
    )
    for _ in range(7):  # the baseline and six generations
        loop.step(4)
    mine = sorted(
        (m.generation, m.candidate_id, m.operator, m.status, m.early_stopped, m.clone)
        for m in loop.archive.meta.values()
    )
    assert mine == real
    assert any(row[3] == "elite" and row[0] > 0 for row in real)  # something merged
    assert {row[2] for row in real if row[0] > 0} >= {"design"}


@pytest.mark.parametrize("strategy", ["bestfit", "priority"])
def test_a_tableable_strategy_is_packed_by_table_once_per_parameters(strategy: str) -> None:
    suite = load_suite(ROOT / "benchmarks", "binpacking")
    goal = suite.goals[0].model_copy(update={"items": 300})
    evaluate = fastpack.PackingEvaluate()
    folder = ROOT / "strategies" / strategy
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    source = memory_loop.StrategySource(strategy, *read_strategy(folder), files)
    plan = [(goal, suite.seeds(goal)[:2], 0), (goal, suite.seeds(goal)[2:4], 2)]
    episodes = evaluate(source, plan)
    assert [e.episode for e in episodes] == [0, 1, 2, 3]
    assert len(evaluate._tables) == 1  # both stages read one table
