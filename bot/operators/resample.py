"""Random reset: a few parameters drawn afresh, uniformly over their declared ranges.

Gaussian perturbation searches near its parent; it cannot cross a valley to a better region
of the parameter space. Resampling takes long jumps along a few coordinates at a time, the
standard complement to Gaussian mutation in evolution strategies and genetic algorithms;
the bandit gives it children only as long as its children improve on their parents.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from bot.manifest import Manifest, ParamSpec, ParamValue
from bot.operators import Context, Params
from bot.operators.perturb import ELEMENT_RATE
from bot.operators.space import coordinates, from_unit


def _draw(spec: ParamSpec, current: object, rng: random.Random) -> float | int | str:
    """A value drawn uniformly from the declared range, other than `current` where the
    range has another."""
    if spec.type == "categorical":
        others = [c for c in spec.choices or () if c != current] or list(spec.choices or ())
        return rng.choice(others)
    assert spec.min is not None and spec.max is not None
    if spec.type == "int":
        low, high = int(spec.min), int(spec.max)
        if high > low and isinstance(current, int) and low <= current <= high:
            value = rng.randint(low, high - 1)  # skip `current`: shift the draws above it
            return value + 1 if value >= current else value
        return rng.randint(low, high)
    return rng.uniform(spec.min, spec.max)


class UniformResample:
    name = "resample"
    arity = 1

    def __init__(self, *, rate: float) -> None:
        self.rate = rate

    def apply(
        self,
        manifest: Manifest,
        parents: Sequence[Params],
        *,
        rng: random.Random,
        context: Context | None = None,
    ) -> tuple[Params, str]:
        child: Params = dict(parents[0])
        names = sorted(manifest.params)
        chosen = [n for n in names if rng.random() < (manifest.params[n].rate or self.rate)]
        if not chosen and names:  # always change something
            chosen = [rng.choice(names)]
        for name in chosen:
            child[name] = self._resample(child[name], manifest.params[name], rng)
        return child, "resample " + ", ".join(chosen)

    def _resample(self, value: ParamValue, spec: ParamSpec, rng: random.Random) -> ParamValue:
        if isinstance(value, list):
            out = [float(_draw(spec, v, rng)) if rng.random() < ELEMENT_RATE else v for v in value]
            if out == value:
                i = rng.randrange(len(value))
                out[i] = float(_draw(spec, value[i], rng))
            return out
        return _draw(spec, value, rng)


class GlobalResample:
    """Every parameter drawn afresh at once: a new point anywhere in the declared space. It
    crosses plateaus no local step leaves — the parameters whose change a plateau hides
    move together with the ones that would show it — at the price of forgetting the
    parent."""

    name = "global"
    arity = 1

    def apply(
        self,
        manifest: Manifest,
        parents: Sequence[Params],
        *,
        rng: random.Random,
        context: Context | None = None,
    ) -> tuple[Params, str]:
        coords = coordinates(manifest)
        child = from_unit(coords, parents[0], [rng.random() for _ in coords])
        return child, f"global: all {len(coords)} parameter value(s) drawn afresh"
