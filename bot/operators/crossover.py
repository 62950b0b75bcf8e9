"""Uniform crossover of two parents of one family: each parameter from either parent."""

from __future__ import annotations

import random
from collections.abc import Sequence

from bot.manifest import Manifest
from bot.operators import Context, Params


class UniformCrossover:
    name = "crossover"
    arity = 2

    def apply(
        self,
        manifest: Manifest,
        parents: Sequence[Params],
        *,
        rng: random.Random,
        context: Context | None = None,
    ) -> tuple[Params, str]:
        first, second = parents
        child: Params = {}
        taken: list[str] = []
        for name in sorted(manifest.params):
            if first[name] != second[name] and rng.random() < 0.5:
                child[name] = second[name]
                taken.append(name)
            else:
                child[name] = first[name]
        return child, "crossover: " + (", ".join(taken) or "nothing") + " from the second parent"
