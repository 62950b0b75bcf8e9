"""DGM-style parent choice: good variants are preferred, crowded ones yield to stepping stones."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from bot.scoring import median, parent_weight, spread


@dataclass(frozen=True)
class ArchiveEntry:
    candidate_id: str
    family: str
    niche: str
    score: float
    children: int
    boosted: bool = False  # reflection marked it for mutation


def weights(
    entries: Sequence[ArchiveEntry], *, k: float, s_mid: float | None, boost: float
) -> list[float]:
    """Each entry's DGM weight, S scaled by the median absolute deviation of the entries'."""
    mid = median(e.score for e in entries) if s_mid is None else s_mid
    scale = spread((e.score for e in entries), mid=mid)
    return [
        parent_weight(e.score, children=e.children, k=k, s_mid=mid, scale=scale)
        * (boost if e.boosted else 1.0)
        for e in entries
    ]


def choose_parents(
    entries: Sequence[ArchiveEntry],
    *,
    count: int,
    k: float,
    s_mid: float | None,
    boost: float,
    rng: random.Random,
) -> list[ArchiveEntry]:
    """Draw `count` parents with replacement, in proportion to their weights."""
    if not entries:
        return []
    return rng.choices(
        list(entries), weights=weights(entries, k=k, s_mid=s_mid, boost=boost), k=count
    )


def choose_mate(
    first: ArchiveEntry,
    entries: Sequence[ArchiveEntry],
    *,
    k: float,
    s_mid: float | None,
    boost: float,
    rng: random.Random,
) -> ArchiveEntry | None:
    """A second parent of the same family for crossover, or None when there is none."""
    mates = [
        e for e in entries if e.family == first.family and e.candidate_id != first.candidate_id
    ]
    if not mates:
        return None
    return rng.choices(mates, weights=weights(mates, k=k, s_mid=s_mid, boost=boost), k=1)[0]
