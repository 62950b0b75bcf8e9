"""Behaviour cells: MAP-Elites inside a niche. A variant's cell is the bins its behaviour
descriptors fall in — the measures the trusted side records (bin packing: the share of bins
filled exactly, their mean fill), its mean reward_norm per goal (the per-goal profile), or
one of its parameters — as its manifest's `[niche.descriptors]` declares, else its suite's
`[descriptors]`. The best variant of each cell joins the parents' pool, so a family keeps
several ways of being good as stepping stones, not only its best."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.manifest import Manifest, ParamValue
from bot.records import Judgment

Descriptors = Mapping[str, Sequence[float]]  # name -> bin edges, ascending


def descriptors_of(manifest: Manifest, suite: Descriptors) -> Descriptors:
    """The descriptors a strategy's cells are made of: its manifest's, else its suite's."""
    return manifest.niche.descriptors or suite


def value_of(
    name: str, judgments: Sequence[Judgment], params: Mapping[str, ParamValue]
) -> float | None:
    """A descriptor's value: `goal:<id>` the mean reward_norm on that goal, a parameter's
    value, or the mean of a recorded measure over the episodes that carry it."""
    if name.startswith("goal:"):
        mine = [j.reward_norm for j in judgments if j.goal_id == name[5:]]
        return sum(mine) / len(mine) if mine else None
    if name in params:
        value = params[name]
        return float(value) if isinstance(value, (int, float)) else None
    seen = [j.measures[name] for j in judgments if j.measures and name in j.measures]
    return sum(seen) / len(seen) if seen else None


def cell_of(
    judgments: Sequence[Judgment], params: Mapping[str, ParamValue], descriptors: Descriptors
) -> str:
    """The cell, e.g. `exact_fits2.fill3` (each descriptor's bin index: how many edges its
    value reaches); "" without descriptors or when a measure or parameter has no value (a
    goal the variant is not scored on is left out of its profile)."""
    parts = []
    for name, edges in sorted(descriptors.items()):
        value = value_of(name, judgments, params)
        if value is None and name.startswith("goal:"):
            continue
        if value is None:
            return ""
        label = name.removeprefix("goal:")
        parts.append(f"{label}{sum(1 for edge in edges if value >= edge)}")
    return ".".join(parts)


def variant_cell(
    judgments: Sequence[Judgment],
    manifest: Manifest,
    params: Mapping[str, ParamValue],
    suite: Descriptors,
) -> str:
    """A variant's cell, from its judgments and its strategy's descriptors."""
    return cell_of(judgments, params, descriptors_of(manifest, suite))


def cell_elites(
    cells: Mapping[str, tuple[str, str, float]],
) -> dict[str, str]:
    """The best variant of each (strategy, cell): `cells` maps a variant to its strategy,
    its cell and its S; variants without a cell are in none."""
    best: dict[tuple[str, str], tuple[float, str]] = {}
    for cid, (strategy, cell, score) in cells.items():
        if not cell:
            continue
        key = (strategy, cell)
        if key not in best or (score, cid) > best[key]:
            best[key] = (score, cid)
    return {f"{strategy}/{cell}": cid for (strategy, cell), (_, cid) in sorted(best.items())}
