"""Variation operators. Each maps parent parameter values to a child's, with an explicit rng;
the adaptive ones also read and update their niche's search state through a Context."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.manifest import Manifest, ParamValue

if TYPE_CHECKING:
    from bot.search_state import NicheState, SearchState

Params = dict[str, ParamValue]


@dataclass
class Context:
    """What an operator may know of the search: the niche (strategy folder) its parent is
    in, that niche's state and elite, the whole search state (per-family design counters)
    and the run's seed. An operator that hands out a CMA-ES sample says which in `slot`."""

    niche: str
    family: str
    state: NicheState
    search: SearchState
    seed: int
    elite: Params | None = None  # the niche's elite's values, where a run starts from
    slot: int | None = None


class Operator(Protocol):
    name: str
    arity: int  # how many parents it takes

    def apply(
        self,
        manifest: Manifest,
        parents: Sequence[Params],
        *,
        rng: random.Random,
        context: Context | None = None,
    ) -> tuple[Params, str]:
        """The child's values and a one-line summary of the change."""
        ...


def operators(
    *,
    sigma: float,
    rate: float,
    design: str = "sobol",
    cma_sigma: float = 0.3,
    cma_popsize: int = 0,
) -> dict[str, Operator]:
    from bot.operators.cmaes import CmaEs
    from bot.operators.crossover import UniformCrossover
    from bot.operators.design import SpaceFilling
    from bot.operators.perturb import GaussianPerturbation
    from bot.operators.resample import GlobalResample, UniformResample

    registry: dict[str, Operator] = {
        "perturb": GaussianPerturbation(sigma=sigma, rate=rate),
        "crossover": UniformCrossover(),
        "resample": UniformResample(rate=rate),
        "global": GlobalResample(),
        "design": SpaceFilling(kind=design),
        "cma": CmaEs(sigma=cma_sigma, popsize=cma_popsize),
    }
    return registry
