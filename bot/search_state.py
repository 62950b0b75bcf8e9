"""What the search learns between generations, per niche: the perturbation's step size, the
CMA-ES run, how long the niche has gone without a merge. Kept in `lineage/search_state.json`
on main, and in the generation journal as planned, so that a killed run resumes exactly.

`learn` is the record phase's update, a pure function of the generation's evaluated
children: the step grows after a success and shrinks after a failure (Rechenberg's 1/5
success rule: it settles where one child in five improves on its parent) and grows on a
plateau, where a child acts exactly like its parent; CMA-ES is told each full population's
results; a niche whose children have not merged for `restart_after` generations explores
again.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from bot.archive import Archive
    from bot.config import ParentConfig, VariationConfig
    from bot.journal import Entry
    from bot.scoring import VariantScore

TARGET_SUCCESS = 0.2  # the 1/5 success rule
STEP_DAMPING = 3.0  # per child: a success multiplies the step by exp(0.8/(0.8*3)) ≈ 1.40
STEP_LIMITS = (0.1, 10.0)  # the step stays within these multiples of variation.sigma


class _State(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CmaState(_State):
    """One CMA-ES run over a niche's numeric parameters, scaled to [0, 1]. Its state is the
    replay of what it was told: the same start, the same random stream and the same results
    give the same distribution again, so nothing but these numbers is stored."""

    coords: list[str]  # the parameters it searches ("w[3]": element 3 of a vector)
    x0: list[float]
    sigma0: float
    popsize: int
    seed: int
    told: list[list[float]] = []  # every population's fitness, in order (lower is better)
    current: list[float | None] = []  # the samples handed out of the current population


class NicheState(_State):
    step: float = 1.0  # perturb's step, a multiple of variation.sigma
    stalled: int = 0  # generations in a row whose evaluated children did not merge
    restarts: int = 0
    explore: int = 0  # children still owed to the space-filling design after a restart
    cma: CmaState | None = None
    cma_runs: int = 0  # CMA-ES runs started here; each new one has twice the population


class SearchState(_State):
    schema_version: Literal[1] = 1
    niches: dict[str, NicheState] = {}  # by strategy folder: one niche on main each
    designs: dict[str, int] = {}  # per family: space-filling design points handed out
    # with parents.islands: the islands each variant belongs to (a variant not listed — a
    # seed, or one from before islands were on — belongs to every island; [] to none)
    islands: dict[str, list[int]] = {}

    def niche(self, name: str) -> NicheState:
        if name not in self.niches:
            self.niches[name] = NicheState()
        return self.niches[name]


def fitness(score: VariantScore, *, stopped: bool) -> float:
    """What CMA-ES minimises: minus the benchmark score, and a child stopped after stage one
    ranks below every child that faced every episode."""
    return (1.0 if stopped else 0.0) - score.benchmark_score


def learn(
    state: SearchState,
    entries: Sequence[Entry],
    archive: Archive,
    scores: Mapping[str, VariantScore],
    variation: VariationConfig,
    *,
    parents: ParentConfig | None = None,
    generation: int = 0,
    seed: int = 0,
) -> list[str]:
    """Update `state` from a generation's evaluated children; returns what changed that a
    person should hear of (restarts, island resets)."""
    by_niche: dict[str, list[Entry]] = {}
    for e in entries:
        if not e.baseline and e.evaluated and e.candidate_id in scores:
            by_niche.setdefault(e.strategy, []).append(e)
    for e in entries:  # CMA-ES samples land in the niche that asked for them
        if e.cma_niche and e.cma_slot is not None and e.candidate_id in scores:
            _tell(state.niche(e.cma_niche), e.cma_slot, _told(e, scores, archive))
    said = []
    for name, children in sorted(by_niche.items()):
        niche = state.niche(name)
        for e in children:
            if e.operator == "perturb" and variation.adapt_sigma:
                niche.step = _stepped(niche.step, _outcome(e, scores, archive))
        if any(e.merged for e in children):
            niche.stalled = 0
            continue
        niche.stalled += 1
        if variation.restart_after and niche.stalled >= variation.restart_after:
            said.append(_restart(name, niche, variation))
    if parents is not None and parents.islands >= 2 and generation % parents.island_reset == 0:
        said += reset_islands(state, archive, scores, parents.islands, seed=f"{seed}:{generation}")
    return said


def members(state: SearchState, cid: str, count: int) -> list[int]:
    """The islands a variant belongs to."""
    return state.islands.get(cid, list(range(count)))


def reset_islands(
    state: SearchState,
    archive: Archive,
    scores: Mapping[str, VariantScore],
    count: int,
    *,
    seed: str,
) -> list[str]:
    """FunSearch's reset: the worse half of the islands, by their best S, is emptied, and
    each starts again from the best variant of a surviving island."""
    best: dict[int, tuple[float, str]] = {}
    for cid, m in archive.meta.items():
        if cid not in scores or m.status not in ("elite", "active") or m.early_stopped:
            continue
        for i in members(state, cid, count):
            here = (scores[cid].selection_score, cid)
            if i not in best or here > best[i]:
                best[i] = here
    ranked = sorted(range(count), key=lambda i: best.get(i, (float("-inf"), "")))
    worse, kept = ranked[: count // 2], ranked[count // 2 :]
    survivors = [i for i in kept if i in best]
    if not survivors:
        return []
    rng = random.Random(seed)
    for cid in list(archive.meta):
        now = members(state, cid, count)
        state.islands[cid] = [i for i in now if i not in worse]
    for i in worse:
        donor = best[rng.choice(survivors)][1]
        state.islands[donor] = sorted({*state.islands.get(donor, []), i})
    return [
        f"islands: {len(worse)} of {count} reset (the worst by best S: "
        f"{', '.join(str(i) for i in sorted(worse))}); each starts again from the best "
        "variant of a surviving island"
    ]


def _outcome(e: Entry, scores: Mapping[str, VariantScore], archive: Archive) -> str:
    if e.clone:
        return "plateau"
    parent = scores.get(e.parents[0]) if e.parents else None
    if e.early_stopped or parent is None:
        return "failure"
    better = scores[e.candidate_id].benchmark_score > parent.benchmark_score
    return "success" if better else "failure"


def _stepped(step: float, outcome: str) -> float:
    hit = 1.0 if outcome in ("success", "plateau") else 0.0
    factor = math.exp((hit - TARGET_SUCCESS) / ((1 - TARGET_SUCCESS) * STEP_DAMPING))
    low, high = STEP_LIMITS
    return round(min(high, max(low, step * factor)), 6)


def _told(e: Entry, scores: Mapping[str, VariantScore], archive: Archive) -> float:
    """A sample's fitness for its CMA-ES run. A clone (stage one gave exactly its parent's
    results) is told its parent's fitness: it acts as its parent does, and ranking it below
    every full evaluation would push the run away from its own best region."""
    parent = e.parents[0] if e.parents else None
    if e.clone and parent in scores and parent in archive.meta:
        return fitness(scores[parent], stopped=archive.meta[parent].early_stopped)
    return fitness(scores[e.candidate_id], stopped=e.early_stopped)


def _tell(niche: NicheState, slot: int, value: float) -> None:
    cma = niche.cma
    if cma is None or slot >= len(cma.current):
        return  # the run restarted since this sample was handed out
    cma.current[slot] = round(value, 9)
    complete_population(cma)


def complete_population(cma: CmaState) -> None:
    """A population whose every sample has its result is told to CMA-ES."""
    if len(cma.current) >= cma.popsize and all(f is not None for f in cma.current):
        cma.told.append([float(f) for f in cma.current if f is not None])
        cma.current = []


def _restart(name: str, niche: NicheState, variation: VariationConfig) -> str:
    """The niche explores again: a fresh share of the design and the step back to its
    start. Its CMA-ES run goes on: it ends by its own criteria (see operators/cmaes.py)."""
    stalled = niche.stalled
    niche.stalled = 0
    niche.restarts += 1
    niche.step = 1.0
    niche.explore = max(1, variation.design_points // 2)
    return (
        f"niche {name}: no merge for {stalled} generations; exploring again (restart "
        f"{niche.restarts}: {niche.explore} design point(s), perturb step reset)"
    )
