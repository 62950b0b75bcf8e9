"""A family's first children: points of a space-filling design over its declared
parameters (a scrambled Sobol sequence, or Latin hypercubes), so the first evaluations
cover the space evenly instead of clustering around the seed. The family's design counter
lives in the search state, so a resumed run continues the sequence where it stopped."""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence

from bot.manifest import Manifest
from bot.operators import Context, Params
from bot.operators.space import coordinates, from_unit

LHS_BLOCK = 16  # a Latin hypercube of this many points, then the next one


def design_point(kind: str, dim: int, *, seed: int, index: int) -> list[float]:
    """The `index`-th point of the design in [0, 1)^dim."""
    from scipy.stats import qmc

    if kind == "lhs":
        block, k = divmod(index, LHS_BLOCK)
        cube = qmc.LatinHypercube(d=dim, seed=seed + block).random(LHS_BLOCK)
        return [float(v) for v in cube[k]]
    sobol = qmc.Sobol(d=dim, scramble=True, seed=seed)
    if index:
        sobol.fast_forward(index)
    return [float(v) for v in sobol.random(1)[0]]


class SpaceFilling:
    name = "design"
    arity = 1

    def __init__(self, *, kind: str = "sobol") -> None:
        self.kind = kind

    def apply(
        self,
        manifest: Manifest,
        parents: Sequence[Params],
        *,
        rng: random.Random,
        context: Context | None = None,
    ) -> tuple[Params, str]:
        coords = coordinates(manifest)
        if context is None:  # no search state to keep a sequence in: a random point
            index, seed = rng.randrange(2**20), rng.randrange(2**31)
        else:
            index = context.search.designs.get(context.family, 0)
            context.search.designs[context.family] = index + 1
            seed = zlib.crc32(f"{context.seed}:{context.family}".encode())
        point = design_point(self.kind, len(coords), seed=seed, index=index)
        label = "Latin hypercube" if self.kind == "lhs" else "Sobol"
        return (
            from_unit(coords, parents[0], point),
            f"design: {label} point {index + 1} over {len(coords)} parameter value(s)",
        )
