from __future__ import annotations

import random
from collections import Counter

from bot.parents import ArchiveEntry, choose_mate, choose_parents, weights


def entry(
    cid: str, s: float, children: int = 0, family: str = "f", boosted: bool = False
) -> ArchiveEntry:
    return ArchiveEntry(cid, family, family, s, children, boosted)


def test_weights_follow_the_dgm_formula() -> None:
    es = [entry("a", 0.9), entry("b", 0.1), entry("c", 0.9, children=4)]
    w = weights(es, k=10, s_mid=0.5, boost=2)
    assert w[0] > w[1]
    assert abs(w[2] - w[0] / 5) < 1e-12


def test_boost_raises_a_flagged_variants_weight() -> None:
    plain, flagged = weights(
        [entry("a", 0.5), entry("b", 0.5, boosted=True)], k=10, s_mid=None, boost=3
    )
    assert abs(flagged - 3 * plain) < 1e-12


def test_choice_is_reproducible_and_prefers_good_parents() -> None:
    es = [entry("good", 0.9), entry("bad", 0.1)]
    first = choose_parents(es, count=200, k=10, s_mid=None, boost=1, rng=random.Random(5))
    again = choose_parents(es, count=200, k=10, s_mid=None, boost=1, rng=random.Random(5))
    assert first == again
    counts = Counter(e.candidate_id for e in first)
    assert counts["good"] > 3 * counts["bad"] > 0


def test_mate_comes_from_the_same_family_and_is_another_variant() -> None:
    es = [entry("a", 0.5), entry("b", 0.5), entry("x", 0.9, family="g")]
    for seed in range(20):
        mate = choose_mate(es[0], es, k=10, s_mid=None, boost=1, rng=random.Random(seed))
        assert mate is not None and mate.candidate_id == "b"
    assert choose_mate(es[2], es, k=10, s_mid=None, boost=1, rng=random.Random(0)) is None


def test_no_entries_no_parents() -> None:
    assert choose_parents([], count=3, k=10, s_mid=None, boost=1, rng=random.Random(0)) == []
