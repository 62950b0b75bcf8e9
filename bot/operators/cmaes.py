"""CMA-ES (the `cma` package) over a niche's numeric parameters, one run per niche.

Each child is one sample of the run's current population; categorical parameters keep the
parent's values. The run's state is what it was told (see search_state.CmaState): an engine
is rebuilt by replaying those populations through a fresh CMAEvolutionStrategy that draws
from its own seeded generator, so a run that was killed, or continues in another process,
asks exactly the samples the uninterrupted one would. Engines are kept in memory and
brought up to date incrementally between generations.

A run ends by pycma's own termination criteria (its step or its results have converged, or
it stagnates), never because the niche went some generations without a merge: a run needs
tens of populations to adapt its step and covariance, and one ended after a few never gets
past its first, near-global spread. The next run starts from the niche's elite with twice
the population (IPOP).
"""

from __future__ import annotations

import math
import random
import warnings
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from bot.manifest import Manifest
from bot.operators import Context, Params
from bot.operators.space import Coordinate, coordinates, from_unit, to_unit
from bot.search_state import CmaState

DIAGONAL_ABOVE = 64  # more coordinates than this: separable CMA-ES (a diagonal covariance)
CONVERGED = 1e-3  # a run whose step fell below this (in unit-cube terms) starts anew
MAX_POPSIZE = 256


def default_popsize(dim: int) -> int:
    """CMA-ES's own default, 4 + floor(3 ln n)."""
    return 4 + int(3 * math.log(max(1, dim)))


class _Engine:
    """A CMAEvolutionStrategy with the populations told so far, and the current one asked."""

    def __init__(self, state: CmaState) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "could not import matplotlib"
            import cma
        self.key = _key(state)
        gen = np.random.default_rng(state.seed)
        self.es: Any = cma.CMAEvolutionStrategy(
            list(state.x0),
            state.sigma0,
            {
                "bounds": [0.0, 1.0],
                "popsize": state.popsize,
                "seed": float("nan"),  # never touch numpy's global generator
                "randn": lambda *shape: gen.standard_normal(shape),
                "CMA_diagonal": len(state.x0) > DIAGONAL_ABOVE,
                "verbose": -9,
                "verb_disp": 0,
                "verb_log": 0,
            },
        )
        self.told = 0
        self.population = self.es.ask()

    def ended(self) -> bool:
        """Whether the run has converged or stagnated by pycma's criteria (or its step fell
        below CONVERGED); the next sample then comes from a new run."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return bool(self.es.stop()) or float(self.es.sigma) < CONVERGED

    def catch_up(self, state: CmaState) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            while self.told < len(state.told):
                self.es.tell(self.population, list(state.told[self.told]))
                self.told += 1
                self.population = self.es.ask()


_ENGINES: dict[tuple[Any, ...], _Engine] = {}


def _key(state: CmaState) -> tuple[Any, ...]:
    return (tuple(state.coords), tuple(state.x0), state.sigma0, state.popsize, state.seed)


def engine(state: CmaState) -> _Engine:
    """The run's engine, with every told population replayed and the current one asked."""
    key = _key(state)
    found = _ENGINES.get(key)
    if found is None or found.told > len(state.told):
        found = _ENGINES[key] = _Engine(state)
        if len(_ENGINES) > 64:
            _ENGINES.pop(next(iter(_ENGINES)))
    found.catch_up(state)
    return found


def start(
    manifest: Manifest, parent: Params, context: Context, *, sigma: float, popsize: int
) -> CmaState | None:
    """A new run from `parent`, its population doubled per restart of the niche (IPOP)."""
    coords = coordinates(manifest, numeric_only=True)
    if not coords:
        return None
    size = (popsize or default_popsize(len(coords))) * 2 ** min(context.state.cma_runs, 6)
    return CmaState(
        coords=[c.label for c in coords],
        x0=[round(x, 9) for x in to_unit(coords, parent)],
        sigma0=sigma,
        popsize=min(MAX_POPSIZE, size),
        seed=zlib.crc32(f"{context.seed}:{context.niche}:{context.state.cma_runs}".encode()),
    )


class CmaEs:
    name = "cma"
    arity = 1

    def __init__(self, *, sigma: float = 0.3, popsize: int = 0) -> None:
        self.sigma = sigma
        self.popsize = popsize

    def available(self, manifest: Manifest, context: Context) -> bool:
        """Whether a sample is left to hand out: the current population not yet fully
        handed out (the next one needs this one's results)."""
        if not coordinates(manifest, numeric_only=True):
            return False
        run = context.state.cma
        return run is None or not _matches(run, manifest) or len(run.current) < run.popsize

    def apply(
        self,
        manifest: Manifest,
        parents: Sequence[Params],
        *,
        rng: random.Random,
        context: Context | None = None,
    ) -> tuple[Params, str]:
        if context is None:
            raise ValueError("operator cma needs the niche's search state")
        run = context.state.cma
        if (
            run is None
            or not _matches(run, manifest)  # the manifest changed under it
            or (not run.current and engine(run).ended())
        ):  # a new run, from the niche's elite when there is one
            base = context.elite if context.elite is not None else parents[0]
            run = context.state.cma = start(
                manifest, base, context, sigma=self.sigma, popsize=self.popsize
            )
            context.state.cma_runs += 1
        if run is None or len(run.current) >= run.popsize:
            return dict(parents[0]), "cma: no sample left in this population"
        found = engine(run)
        slot = len(run.current)
        run.current.append(None)
        context.slot = slot
        coords = _coords(manifest, run)
        child = from_unit(coords, parents[0], [float(v) for v in found.population[slot]])
        return child, (
            f"cma: sample {slot + 1}/{run.popsize} of population {len(run.told) + 1} "
            f"(step {float(found.es.sigma):.3g}) over {len(coords)} parameter value(s)"
        )


def _coords(manifest: Manifest, run: CmaState) -> list[Coordinate]:
    by_label = {c.label: c for c in coordinates(manifest, numeric_only=True)}
    return [by_label[label] for label in run.coords]


def _matches(run: CmaState, manifest: Manifest) -> bool:
    labels = [c.label for c in coordinates(manifest, numeric_only=True)]
    return labels == run.coords
