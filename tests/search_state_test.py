"""What the search learns from a generation, on literal records: the 1/5 success rule, a
plateau that widens the step, CMA-ES told whole populations, restarts after a stall."""

from __future__ import annotations

import pytest

from bot.archive import Archive
from bot.config import VariationConfig
from bot.journal import Entry
from bot.scoring import VariantScore
from bot.search_state import CmaState, SearchState, fitness, learn


def score(bench: float) -> VariantScore:
    return VariantScore(1, 0, bench, 0.0, bench, 0.0, bench, 0.0, 0.0, {})


def child(cid: str, op: str = "perturb", **kw: object) -> Entry:
    fields = {
        "candidate_id": cid,
        "strategy": "s",
        "family": "s",
        "niche": "s/c1",
        "parents": ["p"],
        "operator": op,
        "seed": 0,
        "summary": "",
        "content": cid,
        "files": {},
        "evaluated": True,
        "merged": False,
        **kw,
    }
    return Entry.model_validate(fields)


SCORES = {"p": score(0.5), "up": score(0.6), "down": score(0.4), "same": score(0.5)}
EMPTY = Archive({}, [])


def test_the_step_grows_on_success_and_plateaus_and_settles_at_one_in_five() -> None:
    state = SearchState()
    learn(state, [child("up")], EMPTY, SCORES, VariationConfig())
    grown = state.niches["s"].step
    assert grown == pytest.approx(1.3956, abs=1e-3)
    learn(state, [child("same", clone=True, early_stopped=True)], EMPTY, SCORES, VariationConfig())
    assert state.niches["s"].step > grown  # a plateau: look further
    state = SearchState()
    # one success in five leaves the step where it was
    gen = [child("up"), *(child("down", candidate_id=f"d{i}") for i in range(4))]
    learn(
        state, gen, EMPTY, {**SCORES, **{f"d{i}": score(0.4) for i in range(4)}}, VariationConfig()
    )
    assert state.niches["s"].step == pytest.approx(1.0, abs=1e-6)


def test_without_adaptation_the_step_stays() -> None:
    state = SearchState()
    learn(state, [child("up")], EMPTY, SCORES, VariationConfig(adapt_sigma=False))
    assert state.niches["s"].step == 1.0


def test_cma_es_is_told_a_population_once_every_sample_has_its_result() -> None:
    state = SearchState()
    run = state.niche("s").cma = CmaState(
        coords=["x"], x0=[0.5], sigma0=0.3, popsize=3, seed=1, current=[None, None, 0.7]
    )
    first = [child("up", op="cma", cma_niche="s", cma_slot=0)]
    learn(state, first, EMPTY, SCORES, VariationConfig())
    assert run.current == [pytest.approx(-0.6), None, 0.7] and run.told == []
    stopped = child("down", op="cma", cma_niche="s", cma_slot=1, early_stopped=True)
    learn(state, [stopped], EMPTY, SCORES, VariationConfig())
    assert run.told == [[pytest.approx(-0.6), pytest.approx(0.6), 0.7]] and run.current == []
    # a stopped child ranks below any child that faced every episode
    assert fitness(score(0.1), stopped=False) < fitness(score(0.9), stopped=True)


def test_a_clone_is_told_its_parents_fitness_not_ranked_below_every_full_evaluation() -> None:
    """A sample whose stage one equalled its parent's acts as its parent: ranked last, it
    would push the run away from the region its best samples came from."""
    from bot.archive import VariantMeta

    parent = VariantMeta("p", "s", "s", "s/c1", "", (), 1, "cma", "p")
    archive = Archive({"p": parent}, [])
    for known, told in ((archive, -0.5), (EMPTY, 1.0 - 0.5)):  # unknown parent: as stopped
        state = SearchState()
        run = state.niche("s").cma = CmaState(
            coords=["x"], x0=[0.5], sigma0=0.3, popsize=2, seed=1, current=[None, -0.4]
        )
        clone = child("same", op="cma", cma_niche="s", cma_slot=0, clone=True, early_stopped=True)
        learn(state, [clone], known, SCORES, VariationConfig())
        assert run.told == [[pytest.approx(told), -0.4]]


def test_a_niche_without_a_merge_for_restart_after_generations_explores_again() -> None:
    state = SearchState()
    variation = VariationConfig(restart_after=3, design_points=6)
    said: list[str] = []
    for g in range(3):
        said += learn(state, [child(f"x{g}")], EMPTY, {**SCORES, f"x{g}": score(0.4)}, variation)
    niche = state.niches["s"]
    assert said == [
        "niche s: no merge for 3 generations; exploring again (restart 1: 3 design point(s), "
        "perturb step reset)"
    ]
    assert (niche.stalled, niche.restarts, niche.explore, niche.step) == (0, 1, 3, 1.0)
    merged = child("up", merged=True)
    learn(state, [child("x9"), merged], EMPTY, {**SCORES, "x9": score(0.4)}, variation)
    assert niche.stalled == 0


def test_a_restart_leaves_a_cma_es_run_to_its_own_ending() -> None:
    """A niche that went generations without a merge explores again, but its CMA-ES run
    goes on: it ends by its own criteria (operators/cmaes.py), however long it has run."""
    variation = VariationConfig(restart_after=1)
    for told in (2, 5, 40):
        state = SearchState()
        run = CmaState(
            coords=["x"], x0=[0.5], sigma0=0.3, popsize=2, seed=1, told=[[0.0, 0.0]] * told
        )
        state.niche("s").cma = run
        said = learn(state, [child("down")], EMPTY, SCORES, variation)
        assert state.niches["s"].cma == run
        assert said[0].endswith("perturb step reset)"), said


def test_an_island_reset_empties_the_worse_half_and_seeds_it_from_a_survivor() -> None:
    from bot.archive import VariantMeta
    from bot.config import ParentConfig

    def meta(cid: str) -> VariantMeta:
        return VariantMeta(cid, "s", "s", "s/c1", "", (), 1, "perturb", cid)

    archive = Archive({c: meta(c) for c in ("seed", "a", "b", "c", "d")}, [])
    scores = {
        "seed": score(0.1),
        "a": score(0.9),
        "b": score(0.2),
        "c": score(0.5),
        "d": score(0.3),
    }
    state = SearchState(islands={"a": [0], "b": [1], "c": [2], "d": [3]})  # the seed: all four
    said = learn(
        state, [], archive, scores, VariationConfig(),
        parents=ParentConfig(islands=4, island_reset=5), generation=5, seed=1,
    )  # fmt: skip
    # by best S: island 0 (a, 0.9), 2 (c, 0.5), 3 (d, 0.3), 1 (b, 0.2); 1 and 3 are reset
    assert said == [
        "islands: 2 of 4 reset (the worst by best S: 1, 3); each starts again from the best "
        "variant of a surviving island"
    ]
    assert state.islands["b"] == [] and state.islands["d"] == []
    assert state.islands["seed"] == [0, 2]
    donors = {cid for cid, isl in state.islands.items() if 1 in isl or 3 in isl}
    assert donors <= {"a", "c"} and donors
    # no reset between resets
    again = learn(
        state, [], archive, scores, VariationConfig(),
        parents=ParentConfig(islands=4, island_reset=5), generation=6, seed=1,
    )  # fmt: skip
    assert again == []
