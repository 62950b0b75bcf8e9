"""Gaussian perturbation inside declared ranges; integers rounded, categoricals resampled.

The step is `sigma` (or a parameter's own `sigma` in the manifest) times the declared range,
times the niche's adaptive step multiplier when a Context carries one (see search_state)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from bot.manifest import Manifest, ParamSpec, ParamValue
from bot.operators import Context, Params

ELEMENT_RATE = 0.3  # share of a vector's elements a perturbation moves


def _nudge(value: float, spec: ParamSpec, sigma: float, rng: random.Random) -> float:
    """`value` moved by a Gaussian step of `sigma` times the declared range."""
    assert spec.min is not None and spec.max is not None
    span = spec.max - spec.min
    moved = value + rng.gauss(0.0, sigma * span)
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
        self,
        manifest: Manifest,
        parents: Sequence[Params],
        *,
        rng: random.Random,
        context: Context | None = None,
    ) -> tuple[Params, str]:
        child: Params = dict(parents[0])
        changed: list[str] = []
        names = sorted(manifest.params)
        scale = context.state.step if context is not None else 1.0
        for name in names:
            spec = manifest.params[name]
            if rng.random() >= (spec.rate or self.rate):
                continue
            changed.append(name)
            child[name] = self._mutate(child[name], spec, rng, scale)
        if not changed and names:  # always change something
            name = rng.choice(names)
            changed.append(name)
            child[name] = self._mutate(child[name], manifest.params[name], rng, scale)
        step = f" (step ×{scale:.2g})" if scale != 1.0 else ""
        return child, "perturb " + ", ".join(changed) + step

    def _mutate(
        self, value: ParamValue, spec: ParamSpec, rng: random.Random, scale: float
    ) -> ParamValue:
        if spec.type == "categorical":
            others = [c for c in spec.choices or () if c != value]
            return rng.choice(others)
        sigma = min(1.0, (spec.sigma or self.sigma) * scale)
        if isinstance(value, list):
            out = [_nudge(v, spec, sigma, rng) if rng.random() < ELEMENT_RATE else v for v in value]
            if out == value:
                i = rng.randrange(len(value))
                out[i] = _nudge(value[i], spec, sigma, rng)
            return out
        assert isinstance(value, (int, float))
        return _nudge(value, spec, sigma, rng)
