from __future__ import annotations

import random

from bot.manifest import parse_manifest
from bot.operators.crossover import UniformCrossover
from bot.operators.perturb import GaussianPerturbation
from bot.operators.resample import UniformResample

MANIFEST = parse_manifest(
    """
name = "t"
family = "t"
entry = "p.py:make"
[params.x]
type = "float"
min = -1.0
max = 1.0
[params.n]
type = "int"
min = 1
max = 4
[params.c]
type = "categorical"
choices = ["a", "b", "c"]
[params.v]
type = "float"
size = 5
min = 0.0
max = 10.0
""",
    source="test",
)
PARENT = {"x": 0.0, "n": 2, "c": "a", "v": [5.0] * 5}


def test_perturbation_stays_inside_declared_ranges_and_types() -> None:
    op = GaussianPerturbation(sigma=0.5, rate=1.0)
    for seed in range(200):
        child, summary = op.apply(MANIFEST, [PARENT], rng=random.Random(seed))
        assert -1 <= child["x"] <= 1
        assert isinstance(child["n"], int) and 1 <= child["n"] <= 4 and child["n"] != 2
        assert child["c"] in ("b", "c")
        assert len(child["v"]) == 5 and all(0 <= v <= 10 for v in child["v"])
        assert summary.startswith("perturb ")


def test_perturbation_always_changes_something_and_is_reproducible() -> None:
    op = GaussianPerturbation(sigma=0.1, rate=0.01)
    for seed in range(50):
        child, _ = op.apply(MANIFEST, [PARENT], rng=random.Random(seed))
        assert child != PARENT
        assert op.apply(MANIFEST, [PARENT], rng=random.Random(seed))[0] == child


def test_crossover_takes_each_parameter_from_one_parent() -> None:
    other = {"x": 0.5, "n": 4, "c": "c", "v": [1.0] * 5}
    seen = set()
    for seed in range(40):
        child, _ = UniformCrossover().apply(MANIFEST, [PARENT, other], rng=random.Random(seed))
        for name in PARENT:
            assert child[name] in (PARENT[name], other[name])
            seen.add((name, child[name] == other[name]))
    assert len(seen) == 8  # every parameter came from each parent at least once


def test_resampling_jumps_anywhere_in_range_and_always_changes_something() -> None:
    op = UniformResample(rate=0.2)
    xs, ns = [], set()
    for seed in range(300):
        child, summary = op.apply(MANIFEST, [PARENT], rng=random.Random(seed))
        assert child != PARENT and summary.startswith("resample ")
        assert op.apply(MANIFEST, [PARENT], rng=random.Random(seed))[0] == child
        assert -1 <= child["x"] <= 1 and child["c"] in ("a", "b", "c")
        assert isinstance(child["n"], int) and 1 <= child["n"] <= 4
        assert len(child["v"]) == 5 and all(0 <= v <= 10 for v in child["v"])
        if child["x"] != PARENT["x"]:
            xs.append(child["x"])
        if child["n"] != PARENT["n"]:
            ns.add(child["n"])
    # far jumps, not steps: the whole range is reached, every other integer drawn
    assert min(xs) < -0.8 and max(xs) > 0.8
    assert ns == {1, 3, 4}
