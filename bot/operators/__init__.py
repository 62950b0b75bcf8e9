"""Variation operators. Each maps parent parameter values to a child's, with an explicit rng."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol

from bot.manifest import Manifest, ParamValue

Params = dict[str, ParamValue]


class Operator(Protocol):
    name: str
    arity: int  # how many parents it takes

    def apply(
        self, manifest: Manifest, parents: Sequence[Params], *, rng: random.Random
    ) -> tuple[Params, str]:
        """The child's values and a one-line summary of the change."""
        ...


def operators(*, sigma: float, rate: float) -> dict[str, Operator]:
    from bot.operators.crossover import UniformCrossover
    from bot.operators.perturb import GaussianPerturbation
    from bot.operators.resample import UniformResample

    registry: dict[str, Operator] = {
        "perturb": GaussianPerturbation(sigma=sigma, rate=rate),
        "crossover": UniformCrossover(),
        "resample": UniformResample(rate=rate),
    }
    return registry
