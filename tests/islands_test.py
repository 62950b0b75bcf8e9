"""Islands, generation by generation on the in-memory loop: every child's parent belongs to
the child's island when it is planned, and each island gets its share of the children."""

from __future__ import annotations

import copy

from bot.config import parse_config
from bot.goals import load_suite
from bot.search_state import members
from tests.conftest import ROOT, load_benchmark

fastpack = load_benchmark("fastpack")
memory_loop = load_benchmark("memory_loop")


def test_children_come_from_their_islands_own_variants() -> None:
    suite = load_suite(ROOT / "benchmarks", "binpacking")
    goals = tuple(g.model_copy(update={"items": 600, "episodes": 4}) for g in suite.goals)
    suite = type(suite)(suite.name, suite.description, suite.episode_seed, goals, ())
    config = parse_config(
        {"suite": "binpacking", "seed": 5, "parents": {"islands": 3, "island_reset": 3}},
        source="test",
    )
    loop = memory_loop.MemoryLoop(
        config, suite, memory_loop.strategies_of(ROOT, suite), fastpack.PackingEvaluate()
    )
    loop.step(6)
    planned: dict[str, list[int]] = {}  # each child's island as planned, before any reset
    loop.on_entry = lambda e: planned.__setitem__(
        e.candidate_id, list(loop.search.islands.get(e.candidate_id, []))
    )
    seen = set()
    for _ in range(7):
        before = copy.deepcopy(loop.search)
        for e in loop.step(6):
            (island,) = planned[e.candidate_id]
            seen.add(island)
            assert island in members(before, e.parents[0], 3), (e.candidate_id, island)
    assert seen == {0, 1, 2}
    assert any(line.startswith("g3: islands: 1 of 3 reset") for line in loop.said)
