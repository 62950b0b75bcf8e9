"""Gaussian perturbation inside declared ranges; integers rounded, categoricals resampled."""

from __future__ import annotations

import random
from collections.abc import Sequence

from bot.manifest import Manifest, ParamSpec, ParamValue
from bot.operators import Params

ELEMENT_RATE = 0.3  # share of a vector's elements a perturbation moves


def _nudge(value: float, spec: ParamSpec, sigma: float, rng: random.Random) -> float:
    assert spec.min is not None and spec.max is not None
    span = spec.max - spec.min
    moved = value + rng.gauss(0.0, (spec.sigma or sigma) * span)
    if spec.type == "int":
        step = round(moved)
        if step == value:  # an integer move of less than one would be lost: go one step
            step = int(value) + rng.choice((-1, 1))
        return int(min(spec.max, max(spec.min, step)))
    return min(spec.max, max(spec.min, moved))


class GaussianPerturbation:
    name = "perturb"
    arity = 1

    def __init__(self, *, sigma: float, rate: float) -> None:
        self.sigma = sigma
        self.rate = rate

    def apply(
        self, manifest: Manifest, parents: Sequence[Params], *, rng: random.Random
    ) -> tuple[Params, str]:
        child: Params = dict(parents[0])
        changed: list[str] = []
        names = sorted(manifest.params)
        for name in names:
            spec = manifest.params[name]
            if rng.random() >= (spec.rate or self.rate):
                continue
            changed.append(name)
            child[name] = self._mutate(child[name], spec, rng)
        if not changed and names:  # always change something
            name = rng.choice(names)
            changed.append(name)
            child[name] = self._mutate(child[name], manifest.params[name], rng)
        return child, "perturb " + ", ".join(changed)

    def _mutate(self, value: ParamValue, spec: ParamSpec, rng: random.Random) -> ParamValue:
        if spec.type == "categorical":
            others = [c for c in spec.choices or () if c != value]
            return rng.choice(others)
        if isinstance(value, list):
            out = [
                _nudge(v, spec, self.sigma, rng) if rng.random() < ELEMENT_RATE else v
                for v in value
            ]
            if out == value:
                i = rng.randrange(len(value))
                out[i] = _nudge(value[i], spec, self.sigma, rng)
            return out
        assert isinstance(value, (int, float))
        return _nudge(value, spec, self.sigma, rng)
