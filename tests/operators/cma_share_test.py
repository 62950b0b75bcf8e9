"""variation.cma_share: once a niche has stalled (its first restart) and has had
`cma_after` children, that share of its children are CMA-ES samples, whatever the bandit
thinks of them (a run needs whole populations to adapt). On the exact fast bin-packing
path, so that generations take fractions of a second."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.conftest import load_benchmark

efficacy = load_benchmark("efficacy")
memory_loop = load_benchmark("memory_loop")


def operators_with(
    share: float, *, after: int = 12, cma_after: int = 0
) -> tuple[Counter[str], Counter[str]]:
    """Children's operators before the niche is due CMA-ES's share (its first restart and
    `cma_after` children), and in `after` generations past that."""
    suite = efficacy.suite_of("binpacking")
    seeds = efficacy.seeds_of(suite)
    full = max(sum(g.episodes for g in suite.goals_for(s.manifest.suites)) for s in seeds.values())
    budget = efficacy.Budget(suite, efficacy.evaluator_of(suite), full, float("inf"))
    config = efficacy.config_of(
        "binpacking", 3, {"variation": {"cma_share": share, "cma_after": cma_after}}
    )
    loop = memory_loop.MemoryLoop(config, suite, dict(seeds), budget.run)
    before: Counter[str] = Counter()
    past: Counter[str] = Counter()
    while sum(past.values()) < 4 * after:
        restarted = any(n.restarts for n in loop.search.niches.values())
        children = sum(1 for m in loop.archive.meta.values() if m.parents)
        due = restarted and children >= cma_after
        entries = loop.step(4)
        for e in entries:
            if not e.baseline and e.operator != "design":
                (past if due else before)[e.operator] += 1
        assert loop.generation < 200, "no restart in 200 generations"
    return before, past


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_cma_es_gets_its_share_of_the_children_once_a_niche_has_stalled(share: float) -> None:
    before, past = operators_with(share)
    early = before["cma"] / max(1, sum(before.values()))
    assert early < 0.35, before  # the bandit's, until the niche stalls
    cma = past["cma"] / sum(past.values())
    if share == 1.0:  # every child, while the population has samples left
        assert cma >= 0.8, past
    elif share == 0.5:
        assert 0.3 <= cma <= 0.75, past
    else:  # the bandit alone, which judges each sample against its parent
        assert cma < 0.35, past


def test_cma_es_waits_for_the_niches_first_children() -> None:
    """With cma_after = 60 the share starts only once the niche has had 60 children, though
    its first restart comes long before."""
    before, past = operators_with(1.0, after=16, cma_after=60)
    assert sum(before.values()) >= 50, before  # the restart alone did not hand CMA-ES over
    assert before["cma"] / sum(before.values()) < 0.35, before
    assert past["cma"] / sum(past.values()) >= 0.8, past
