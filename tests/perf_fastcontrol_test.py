"""The efficacy benchmark's fast control path gives the sandboxed path's episodes to the last
digit: Gymnasium's dynamics, its time limit, the worker's batches, invalid actions, crashes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bot.config import load_config
from bot.evaluator import EnvPool, Session
from bot.goals import load_suite
from bot.manifest import dump_params, parse_manifest
from bot.operators.resample import GlobalResample
from bot.sandbox import open_sandbox
from bot.workspace import StrategySource
from tests.conftest import ROOT, load_benchmark

fastcontrol = load_benchmark("fastcontrol")
memory_loop = load_benchmark("memory_loop")

# actions out of the space on some rows, and a crash on one goal only
ODD = {
    "wild": "return np.where(np.arange(len(obs)) % 2 == 0, 1, 7) if obs.shape[1] != 3 "
    "else np.full((len(obs), 1), 1.5)",
    "fragile": "if obs.shape[1] == 2: raise RuntimeError('no')\n        "
    "return np.zeros(len(obs), dtype=np.int64) if obs.shape[1] != 3 else np.zeros((len(obs), 1))",
}


def odd(name: str, body: str) -> StrategySource:
    manifest = f'name = "{name}"\nfamily = "{name}"\nentry = "policy.py:make_policy"\n'
    files = {
        "strategy.toml": manifest.encode(),
        "params.json": b"{}\n",
        "policy.py": (
            "import numpy as np\n\n\nclass P:\n    def act(self, obs):\n"
            f"        {body}\n\n\ndef make_policy(params, spec):\n    return P()\n"
        ).encode(),
    }
    return StrategySource(name, parse_manifest(manifest, source=name), {}, files)


def sources() -> list[StrategySource]:
    suite = load_suite(ROOT / "benchmarks", "control")
    seeds = memory_loop.strategies_of(ROOT, suite)
    out = []
    rng = random.Random(11)
    for name in ("heuristic", "linear", "mlp"):
        src = seeds[name]
        out.append(src)
        for _ in range(2):
            child, _ = GlobalResample().apply(src.manifest, [src.params], rng=rng)
            files = {**src.files, "params.json": dump_params(child).encode()}
            out.append(StrategySource(name, src.manifest, child, files))
    return out + [odd(n, body) for n, body in ODD.items()]


def test_the_fast_path_steps_exactly_as_the_sandboxed_path(tmp_path: Path) -> None:
    suite = load_suite(ROOT / "benchmarks", "control")
    goals = [g.model_copy(update={"episodes": 7}) for g in suite.goals]
    plan = [(g, suite.seeds(g), 0) for g in goals]
    sandbox = open_sandbox(load_config(ROOT).evaluation.model_copy(update={"sandbox": "bwrap"}))
    pool = EnvPool()
    fast = fastcontrol.ControlEvaluate()
    failures = set()
    try:
        for k, src in enumerate(sources()):
            where = tmp_path / str(k) / src.name
            where.mkdir(parents=True)
            for name, data in src.files.items():
                (where / name).write_bytes(data)
            with Session(sandbox, where, pool, reply_timeout=10, start_timeout=30) as session:
                slow = session.run(plan)
            quick = fast(src, plan)
            rows = [(e.goal_id, e.episode, e.seed, e.reward, e.steps, e.failure) for e in quick]
            assert rows == [
                (e.goal_id, e.episode, e.seed, e.reward, e.steps, e.failure) for e in slow
            ], src.name
            failures |= {e.failure for e in quick}
    finally:
        sandbox.close()
        pool.close()
    assert failures == {None, "invalid_action", "crash"}
    # every episode of a decent controller ran to its end or its time limit
    assert any(e.steps == g.max_steps for e in quick for g in goals if g.goal_id == e.goal_id)


@pytest.mark.parametrize("env_id", sorted(fastcontrol.DYNAMICS))
def test_resets_are_gymnasiums_own(env_id: str) -> None:
    import gymnasium

    resets = fastcontrol.Resets()
    env = gymnasium.make(env_id)
    first, state = resets(env_id, 1234)
    again = env.reset(seed=1234)[0]
    assert first.tolist() == again.astype(float).ravel().tolist()
    assert state.tolist() == [float(v) for v in env.unwrapped.state]
