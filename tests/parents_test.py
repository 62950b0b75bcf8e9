from __future__ import annotations

import random
from collections import Counter

import pytest

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


def test_weights_do_not_depend_on_the_spread_of_s() -> None:
    """S differs by a few hundredths between good and poor variants: measured in median
    absolute deviations, the same ranking gives the same weights at any scale."""
    scores = [0.50, 0.51, 0.52, 0.53, 0.60]
    wide = weights([entry(str(i), s) for i, s in enumerate(scores)], k=1, s_mid=None, boost=1)
    narrow = weights(
        [entry(str(i), 0.3 + s / 100) for i, s in enumerate(scores)], k=1, s_mid=None, boost=1
    )
    assert narrow == pytest.approx(wide)
    assert wide[-1] > 0.9 and wide[0] < 0.2  # the best two MADs up, the worst two down


def test_equal_scores_weigh_alike() -> None:
    w = weights([entry("a", 0.4), entry("b", 0.4)], k=1, s_mid=None, boost=1)
    assert w[0] == w[1] == 0.5


def test_choice_is_reproducible_and_prefers_good_parents() -> None:
    es = [entry("good", 0.9), entry("bad", 0.1)]
    first = choose_parents(es, count=200, k=2, s_mid=None, boost=1, rng=random.Random(5))
    again = choose_parents(es, count=200, k=2, s_mid=None, boost=1, rng=random.Random(5))
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
