"""The efficacy benchmark's harness: its search space, its budget, and every method's run
shape (the numbers themselves belong to the report, not to tests)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from bot.manifest import dump_params, parse_params
from tests.conftest import ROOT, load_benchmark

efficacy = load_benchmark("efficacy")


@pytest.mark.parametrize("suite", ["control", "binpacking"])
def test_every_genome_decodes_to_declared_values_and_seeds_round_trip(suite: str) -> None:
    space = efficacy.Space.of(ROOT, suite)
    assert space.names and space.dim == 1 + len(space.slots)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        strategy, params = space.decode(rng.random(space.dim))
        seen.add(strategy)
        parse_params(dump_params(params), space.manifests[strategy], source="genome")
    assert seen == set(space.names)
    for name in space.names:
        strategy, params = space.decode(space.encode(name))
        assert strategy == name
        seed = space.seeds[name]
        assert set(params) == set(seed)
        for key, value in seed.items():
            if isinstance(value, (float, list)):
                assert params[key] == pytest.approx(value, abs=1e-9)
            else:
                assert params[key] == value


@pytest.mark.slow
def test_every_method_spends_at_most_its_budget_from_the_seeds(tmp_path: Path) -> None:
    budget = 5
    for method in efficacy.METHODS:
        run = efficacy.run_one(
            method, "control", 1, budget=budget, episodes=1, sandbox="none", tmp=tmp_path
        )
        full = run["full_evaluation_episodes"]
        assert full == 4  # four goals, one episode each
        names = sorted(efficacy.Space.of(ROOT, "control").names)
        assert run["episodes"] == run["spent"][-1] <= budget * full
        if method not in ("augnes", "v06"):  # every evaluation full: the budget exactly
            assert run["spent"] == [full * (i + 1) for i in range(budget)]
        assert sum(run["strategies"].values()) == len(run["curve"]) == len(run["spent"])
        assert run["spent"] == sorted(run["spent"]) and len(run["curve"]) >= len(names)
        values = [v for v in run["curve"] if v is not None]
        assert values == sorted(values)  # the best so far never falls
        assert run["start"] == max(run["curve"][: len(names)])
        assert run["best_strategy"] in names


def test_random_search_asks_the_seeds_first(tmp_path: Path) -> None:
    asked: list[tuple[str, dict[str, object]]] = []
    space = efficacy.Space.of(ROOT, "control")

    def evaluate(strategy: str, params: dict[str, object]) -> float:
        if len(asked) == 10:
            raise efficacy.Budget
        asked.append((strategy, params))
        return random.random()

    with pytest.raises(efficacy.Budget):
        efficacy.run_random(space, evaluate, 3)
    assert [s for s, _ in asked[: len(space.names)]] == space.names
    assert [p for _, p in asked[: len(space.names)]] == [space.seeds[n] for n in space.names]
