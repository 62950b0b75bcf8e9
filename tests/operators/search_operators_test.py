"""The operators that cross plateaus and adapt: the whole-vector resample, the space-filling
design, CMA-ES (resumed exactly from its stored state), and perturbation whose step is the
niche's."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from bot.manifest import dump_params, parse_params
from bot.operators import Context
from bot.operators.cmaes import _ENGINES, CmaEs, default_popsize
from bot.operators.design import SpaceFilling, design_point
from bot.operators.perturb import GaussianPerturbation
from bot.operators.resample import GlobalResample
from bot.operators.space import coordinates, from_unit, to_unit
from bot.search_state import SearchState, complete_population
from tests.operators_test import MANIFEST, PARENT


def context(search: SearchState, niche: str = "t") -> Context:
    return Context(niche=niche, family="t", state=search.niche(niche), search=search, seed=3)


def valid(child: dict) -> dict:
    return parse_params(dump_params(child), MANIFEST, source="child")


def test_unit_coordinates_round_trip() -> None:
    coords = coordinates(MANIFEST)
    assert [c.label for c in coords] == ["c", "n", "v[0]", "v[1]", "v[2]", "v[3]", "v[4]", "x"]
    assert from_unit(coords, PARENT, to_unit(coords, PARENT)) == PARENT
    numeric = coordinates(MANIFEST, numeric_only=True)
    assert "c" not in [c.label for c in numeric]


def test_global_resample_moves_every_parameter_inside_its_range() -> None:
    moved = {name: 0 for name in MANIFEST.params}
    for seed in range(50):
        child, summary = GlobalResample().apply(MANIFEST, [PARENT], rng=random.Random(seed))
        valid(child)
        for name in moved:
            moved[name] += child[name] != PARENT[name]
        assert summary == "global: all 8 parameter value(s) drawn afresh"
    assert all(count >= 25 for count in moved.values()), moved  # not a few: all of them


def test_the_design_fills_the_space_and_continues_where_it_stopped() -> None:
    search = SearchState()
    op = SpaceFilling(kind="sobol")
    points = []
    for _ in range(8):
        child, summary = op.apply(MANIFEST, [PARENT], rng=random.Random(0), context=context(search))
        valid(child)
        points.append(child["x"])
    assert summary.startswith("design: Sobol point 8 over 8")
    assert search.designs == {"t": 8}
    # a scrambled Sobol sequence: the first 8 points put one in each eighth of every axis
    assert sorted(int((x + 1) / 2 * 8) for x in points) == list(range(8))
    # a resumed run (the state read back from JSON) hands out the next point, not the first
    again = SearchState.model_validate_json(search.model_dump_json())
    child, _ = op.apply(MANIFEST, [PARENT], rng=random.Random(0), context=context(again))
    assert again.designs == {"t": 9}
    assert child["x"] not in points
    lhs = [design_point("lhs", 2, seed=1, index=i)[0] for i in range(16)]
    assert sorted(int(x * 16) for x in lhs) == list(range(16))


def test_perturbation_steps_by_the_niches_multiplier() -> None:
    search = SearchState()
    op = GaussianPerturbation(sigma=0.01, rate=1.0)
    spread = {}
    for step in (0.5, 8.0):
        search.niche("t").step = step
        xs = [
            op.apply(MANIFEST, [PARENT], rng=random.Random(s), context=context(search))[0]["x"]
            for s in range(300)
        ]
        spread[step] = float(np.std(xs))
    assert spread[8.0] > 10 * spread[0.5]
    _, summary = op.apply(MANIFEST, [PARENT], rng=random.Random(1), context=context(search))
    assert summary.endswith("(step ×8)")


def fitness_of(child: dict) -> float:
    return (child["x"] - 0.4) ** 2 + sum((v - 7.0) ** 2 for v in child["v"]) / 100


def test_cma_es_converges_and_keeps_the_parents_categoricals() -> None:
    search = SearchState()
    op = CmaEs(sigma=0.3)
    best = float("inf")
    for _ in range(40):
        ctx = context(search)
        popsize = default_popsize(len(coordinates(MANIFEST, numeric_only=True)))
        for slot in range(popsize):
            assert op.available(MANIFEST, ctx)
            child, summary = op.apply(MANIFEST, [PARENT], rng=random.Random(0), context=ctx)
            assert ctx.slot == slot and child["c"] == PARENT["c"]
            valid(child)
            run = ctx.state.cma
            assert run is not None
            run.current[slot] = fitness_of(child)
            best = min(best, fitness_of(child))
        assert not op.available(MANIFEST, ctx) or not ctx.state.cma.current
        complete_population(ctx.state.cma)
    assert best < 0.01
    assert ctx.state.cma is not None and len(ctx.state.cma.told) == 40


@pytest.mark.parametrize("told", [0, 3, 7])
def test_a_resumed_cma_es_run_asks_what_the_uninterrupted_one_asks(told: int) -> None:
    def run(stop_after: int | None) -> list[dict]:
        search = SearchState()
        asked = []
        for population in range(8):
            if population == stop_after:  # the process dies; the next one reads the JSON
                _ENGINES.clear()
                search = SearchState.model_validate(json.loads(search.model_dump_json()))
            ctx = context(search)
            while op.available(MANIFEST, ctx) and (
                ctx.state.cma is None or len(ctx.state.cma.current) < ctx.state.cma.popsize
            ):
                child, _ = op.apply(MANIFEST, [PARENT], rng=random.Random(0), context=ctx)
                asked.append(child)
                ctx.state.cma.current[ctx.slot] = fitness_of(child)
            complete_population(ctx.state.cma)
        return asked

    op = CmaEs(sigma=0.2)
    assert run(told) == run(None)


def test_a_run_that_has_ended_gives_way_to_one_with_twice_the_population() -> None:
    """pycma's own criteria end a run (here: every result the same, a flat fitness); the
    next sample starts a new run from the niche's elite, its population doubled (IPOP)."""
    search = SearchState()
    op = CmaEs(sigma=0.2, popsize=4)
    elite = {**PARENT, "x": 0.9}
    populations = 0
    while search.niche("t").cma_runs < 2:
        ctx = context(search)
        ctx.elite = elite
        child, summary = op.apply(MANIFEST, [PARENT], rng=random.Random(0), context=ctx)
        run = ctx.state.cma
        assert run is not None and ctx.slot is not None
        run.current[ctx.slot] = 1.0  # flat: nothing to learn from
        if len(run.current) == run.popsize:
            complete_population(run)
            populations += 1
        assert populations < 100, "a flat run never ended"
    assert (run.popsize, len(run.told), run.current) == (8, 0, [1.0])
    assert run.x0 == [round(x, 9) for x in to_unit(coordinates(MANIFEST, numeric_only=True), elite)]
    assert summary.startswith("cma: sample 1/8 of population 1")


def test_an_unused_run_is_not_available_once_its_population_is_handed_out() -> None:
    search = SearchState()
    op = CmaEs(sigma=0.2, popsize=3)
    ctx = context(search)
    for _ in range(3):
        op.apply(MANIFEST, [PARENT], rng=random.Random(0), context=ctx)
    assert not op.available(MANIFEST, ctx)
    child, summary = op.apply(MANIFEST, [PARENT], rng=random.Random(0), context=ctx)
    assert child == PARENT and "no sample left" in summary
