"""A strategy's declared parameters as coordinates of the unit cube, and back: what the
space-filling design, the whole-vector resample and CMA-ES search over."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.manifest import Manifest, ParamSpec, ParamValue
from bot.operators import Params


@dataclass(frozen=True)
class Coordinate:
    name: str
    index: int | None  # the element of a vector parameter
    spec: ParamSpec

    @property
    def label(self) -> str:
        return self.name if self.index is None else f"{self.name}[{self.index}]"


def coordinates(manifest: Manifest, *, numeric_only: bool = False) -> list[Coordinate]:
    """Every parameter (every element of a vector), in name order; categoricals too unless
    `numeric_only`."""
    out = []
    for name, spec in sorted(manifest.params.items()):
        if spec.type == "categorical":
            if not numeric_only:
                out.append(Coordinate(name, None, spec))
            continue
        out += [Coordinate(name, i if spec.size else None, spec) for i in range(spec.size or 1)]
    return out


def to_unit(coords: Sequence[Coordinate], params: Params) -> list[float]:
    """Each coordinate's value scaled to [0, 1] by its declared range (a categorical: the
    middle of its choice's share)."""
    out = []
    for c in coords:
        value = params[c.name]
        if c.index is not None:
            assert isinstance(value, list)
            value = value[c.index]
        spec = c.spec
        if spec.type == "categorical":
            choices = list(spec.choices or ())
            out.append((choices.index(str(value)) + 0.5) / len(choices))
            continue
        assert spec.min is not None and spec.max is not None
        assert isinstance(value, (int, float))
        out.append(min(1.0, max(0.0, (float(value) - spec.min) / (spec.max - spec.min))))
    return out


def from_unit(coords: Sequence[Coordinate], base: Params, u: Sequence[float]) -> Params:
    """`base` with every coordinate set from its point in [0, 1] (integers rounded,
    categoricals by share); parameters without a coordinate keep their values."""
    child: Params = {k: list(v) if isinstance(v, list) else v for k, v in base.items()}
    for c, x in zip(coords, u, strict=True):
        x = min(1.0, max(0.0, float(x)))
        spec = c.spec
        value: ParamValue
        if spec.type == "categorical":
            choices = list(spec.choices or ())
            value = choices[min(len(choices) - 1, int(x * len(choices)))]
        else:
            assert spec.min is not None and spec.max is not None
            number = spec.min + x * (spec.max - spec.min)
            value = int(round(number)) if spec.type == "int" else number
        if c.index is None:
            child[c.name] = value
        else:
            vector = child[c.name]
            assert isinstance(vector, list) and isinstance(value, float)
            vector[c.index] = value
    return child
