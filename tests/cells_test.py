"""Behaviour cells on literal records: descriptors from measures, the per-goal profile or a
parameter; the best of each cell; the manifest's descriptors before the suite's."""

from __future__ import annotations

import pytest

from bot.cells import cell_elites, cell_of, descriptors_of, value_of
from bot.errors import ManifestError
from bot.manifest import parse_manifest
from bot.records import Judgment


def judgment(goal: str, norm: float, measures: dict[str, float] | None = None) -> Judgment:
    return Judgment.model_construct(goal_id=goal, reward_norm=norm, measures=measures)


PACKED = [
    judgment("w", 0.9, {"exact_fits": 0.5, "fill": 0.97}),
    judgment("w", 0.9, {"exact_fits": 0.7, "fill": 0.975}),
]


def test_measures_are_averaged_and_binned_by_their_edges() -> None:
    assert value_of("exact_fits", PACKED, {}) == pytest.approx(0.6)
    cell = cell_of(PACKED, {}, {"exact_fits": (0.4, 0.6, 0.8), "fill": (0.96, 0.98)})
    assert cell == "exact_fits2.fill1"  # 0.6 reaches two edges, 0.9725 one


def test_the_per_goal_profile_and_parameters() -> None:
    js = [judgment("cartpole", 1.0), judgment("pendulum", 0.3), judgment("pendulum", 0.5)]
    descriptors = {"goal:cartpole": (0.5, 0.9), "goal:pendulum": (0.5, 0.9), "goal:acrobot": (0.5,)}
    # a goal the variant is not scored on is no part of its profile
    assert cell_of(js, {}, descriptors) == "cartpole2.pendulum0"
    assert cell_of(js, {"gain": 3}, {"gain": (1.0, 5.0)}) == "gain1"
    assert cell_of(js, {}, {"exact_fits": (0.5,)}) == ""  # nothing measured it: no cell
    assert cell_of(js, {}, {}) == ""


def test_each_cell_keeps_its_best_variant() -> None:
    cells = {
        "a": ("s", "x1", 0.40),
        "b": ("s", "x1", 0.45),
        "c": ("s", "x2", 0.10),
        "d": ("t", "x1", 0.20),
        "e": ("s", "", 0.99),
    }
    assert cell_elites(cells) == {"s/x1": "b", "s/x2": "c", "t/x1": "d"}


def test_a_manifest_declares_its_own_descriptors() -> None:
    text = 'name = "p"\nfamily = "p"\nentry = "p.py:f"\n[niche.descriptors]\ngain = [1.0, 5.0]\n'
    manifest = parse_manifest(text, source="m")
    assert descriptors_of(manifest, {"fill": (0.9,)}) == {"gain": (1.0, 5.0)}
    plain = parse_manifest('name = "p"\nfamily = "p"\nentry = "p.py:f"\n', source="m")
    assert descriptors_of(plain, {"fill": (0.9,)}) == {"fill": (0.9,)}
    with pytest.raises(ManifestError, match="ascending bin edges"):
        parse_manifest(text.replace("[1.0, 5.0]", "[5.0, 1.0]"), source="m")
