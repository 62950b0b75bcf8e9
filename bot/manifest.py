"""Strategy manifests (`strategies/<name>/strategy.toml`) and parameter values (`params.json`)."""

from __future__ import annotations

import contextlib
import json
import math
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.errors import ManifestError, read_text

MANIFEST = "strategy.toml"
PARAMS = "params.json"

ParamValue = float | int | str | list[float]


class ParamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["float", "int", "categorical"]
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    size: int | None = Field(None, ge=1, le=4096)
    rate: float | None = Field(None, gt=0, le=1)
    sigma: float | None = Field(None, gt=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices or len(self.choices) < 2:
                raise ValueError("a categorical parameter needs `choices` with at least two values")
            if self.size is not None:
                raise ValueError("`size` applies to float parameters only")
            return self
        if self.min is None or self.max is None:
            raise ValueError(f"a {self.type} parameter needs `min` and `max`")
        if not self.max > self.min:
            raise ValueError("`max` must be greater than `min`")
        if self.size is not None and self.type != "float":
            raise ValueError("`size` applies to float parameters only")
        return self

    def check(self, value: Any) -> str | None:
        """Return why `value` does not fit this declaration, or None."""
        if self.type == "categorical":
            return (
                None
                if value in (self.choices or ())
                else f"must be one of {list(self.choices or ())}"
            )
        if self.size is not None:
            if not isinstance(value, list) or len(value) != self.size:
                return f"must be a list of {self.size} numbers"
            values = value
        else:
            values = [value]
        for v in values:
            if self.type == "int" and (not isinstance(v, int) or isinstance(v, bool)):
                return "must be an integer"
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                return "must be a finite number"
            assert self.min is not None and self.max is not None
            if not self.min <= v <= self.max:
                return f"must lie in [{self.min}, {self.max}]"
        return None


class NicheSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    complexity: str = "n_params"
    bins: tuple[float, ...] = (0, 16, 64, 256, 1024)
    # behaviour cells inside the niche: descriptor -> ascending bin edges; a descriptor is a
    # measure the suite records, `goal:<id>` (mean reward_norm there) or a parameter
    # (default: the suite's [descriptors])
    descriptors: dict[str, tuple[float, ...]] = {}

    @model_validator(mode="after")
    def _edges_ascend(self) -> NicheSpec:
        for name, edges in self.descriptors.items():
            if not edges or list(edges) != sorted(edges):
                raise ValueError(f"niche.descriptors.{name}: give ascending bin edges")
        return self


class WorldModelSpec(BaseModel):
    """A model-based strategy: the harness hands it the goal's learned world model, of the
    capacity (hidden units) its parameter `capacity` names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    capacity: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    family: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    kind: Literal["policy"] = "policy"
    description: str = ""
    entry: str = Field(pattern=r"^[A-Za-z0-9_]+\.py:[A-Za-z_][A-Za-z0-9_]*$")
    suites: tuple[str, ...] = ("control",)
    params: dict[str, ParamSpec] = {}
    niche: NicheSpec = NicheSpec()
    world_model: WorldModelSpec | None = None

    @model_validator(mode="after")
    def _capacity_is_a_parameter(self) -> Manifest:
        if self.world_model is not None:
            spec = self.params.get(self.world_model.capacity)
            if spec is None or spec.type == "float":
                raise ValueError(
                    f"world_model.capacity names `{self.world_model.capacity}`, which must be "
                    "an int or categorical parameter (hidden units) declared under [params]"
                )
        return self

    def capped(self, params: Mapping[str, Any], cap: int) -> dict[str, Any]:
        """`params` with the world-model capacity at most `cap` (the largest allowed value
        not above it; the smallest allowed when none is)."""
        out = dict(params)
        if self.world_model is None:
            return out
        name = self.world_model.capacity
        spec = self.params[name]
        current = self.capacity(params)
        if current is None or current <= cap:
            return out
        if spec.type == "categorical":
            numbers = sorted(int(c) for c in spec.choices or () if c.lstrip("-").isdigit())
            allowed = [n for n in numbers if n <= cap] or numbers[:1]
            out[name] = str(allowed[-1]) if allowed else params[name]
        else:
            assert spec.min is not None
            out[name] = max(int(spec.min), cap)
        return out

    def capacity(self, params: Mapping[str, Any]) -> int | None:
        """The hidden units of the world model this strategy asks for, if it asks."""
        if self.world_model is None:
            return None
        value = params.get(self.world_model.capacity)
        try:
            return int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None


def _fields(exc: ValidationError) -> str:
    return "; ".join(
        f"`{'.'.join(str(p) for p in e['loc']) or '(top level)'}`: {e['msg']}" for e in exc.errors()
    )


def parse_manifest(text: str, *, source: str) -> Manifest:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{source}: not valid TOML ({exc}); fix the syntax") from None
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(f"{source}: {_fields(exc)}") from None


def parse_params(text: str, manifest: Manifest, *, source: str) -> dict[str, ParamValue]:
    """Parse `params.json` and check every value against its declaration."""
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(values, dict):
        raise ManifestError(f"{source}: must hold a JSON object of parameter values")
    missing = sorted(set(manifest.params) - set(values))
    unknown = sorted(set(values) - set(manifest.params))
    if missing:
        raise ManifestError(f"{source}: no value for declared parameter(s) {missing}; add them")
    if unknown:
        raise ManifestError(
            f"{source}: parameter(s) {unknown} are not declared in {MANIFEST}; declare or remove them"
        )
    for name, spec in manifest.params.items():
        problem = spec.check(values[name])
        if problem:
            raise ManifestError(f"{source}: `{name}` {problem}")
    return values


def dump_params(values: dict[str, ParamValue]) -> str:
    """The canonical text of a params file: sorted keys, rounded floats, one trailing newline."""
    return json.dumps(_rounded(values), indent=2, sort_keys=True) + "\n"


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def complexity(manifest: Manifest, values: dict[str, ParamValue]) -> float:
    if manifest.niche.complexity == "n_params":
        return float(sum(spec.size or 1 for spec in manifest.params.values()))
    value = values.get(manifest.niche.complexity)
    if isinstance(value, str):  # a categorical of numbers, e.g. hidden units "8" … "128"
        with contextlib.suppress(ValueError):
            value = float(value)
    if not isinstance(value, (int, float)):
        raise ManifestError(
            f"strategy `{manifest.name}`: niche.complexity names `{manifest.niche.complexity}`, "
            "which is not a numeric parameter"
        )
    return float(value)


def niche_key(manifest: Manifest, values: dict[str, ParamValue]) -> str:
    """MAP-Elites cell: strategy family × complexity bin."""
    c = complexity(manifest, values)
    index = sum(1 for edge in manifest.niche.bins if c >= edge)
    return f"{manifest.family}/c{index}"


def read_strategy(directory: Path) -> tuple[Manifest, dict[str, ParamValue]]:
    manifest = parse_manifest(
        read_text(directory / MANIFEST, error=ManifestError), source=str(directory / MANIFEST)
    )
    if manifest.name != directory.name:
        raise ManifestError(
            f"{directory / MANIFEST}: `name` is {manifest.name!r} but the directory is "
            f"{directory.name!r}; make them equal"
        )
    params = parse_params(
        read_text(directory / PARAMS, error=ManifestError), manifest, source=str(directory / PARAMS)
    )
    entry_file = manifest.entry.split(":")[0]
    if not (directory / entry_file).is_file():
        raise ManifestError(f"{directory / MANIFEST}: `entry` names {entry_file}, which is missing")
    return manifest, params


NAME_LINE = re.compile(r'^name\s*=\s*(["\']).*?\1\s*$', re.MULTILINE)


def renamed(manifest_text: str, name: str) -> str:
    """The manifest with its `name` set to `name` (a strategy copied into a new folder)."""
    new, count = NAME_LINE.subn(f'name = "{name}"', manifest_text, count=1)
    if count != 1:
        raise ManifestError('the manifest has no `name = "…"` line to rename')
    return new


def reachable_cells(manifest: Manifest) -> list[str]:
    """The complexity cells (`c<i>`) this strategy's parameters can reach: one for a fixed
    parameter count, the bins its complexity parameter's range or choices fall in."""
    bins = manifest.niche.bins

    def cell(value: float) -> str:
        return f"c{sum(1 for edge in bins if value >= edge)}"

    if manifest.niche.complexity == "n_params":
        return [cell(float(sum(spec.size or 1 for spec in manifest.params.values())))]
    spec = manifest.params.get(manifest.niche.complexity)
    if spec is None:
        return []
    if spec.type == "categorical":
        values = []
        for choice in spec.choices or ():
            with contextlib.suppress(ValueError):
                values.append(float(choice))
        return sorted({cell(v) for v in values}, key=lambda c: int(c[1:]))
    assert spec.min is not None and spec.max is not None
    low, high = int(cell(spec.min)[1:]), int(cell(spec.max)[1:])
    return [f"c{i}" for i in range(low, high + 1)]
