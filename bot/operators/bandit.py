"""Which operator makes the next child: a bandit over operators.

Each operator's record is how many of its children were evaluated and how many of those
improved on their (first) parent, and how many of its attempts were wasted: discarded as
invalid before any evaluation (a code edit that does not compile; for the language model,
every call that gave no child: planner.wasted_attempts). Its share of new children is proportional to the posterior mean success rate
(1 + improved) / (2 + evaluated + wasted) — an operator that keeps making better children
gets more of them, one whose attempts cost without giving children fewer — and never falls
below `floor`, so an operator that started badly still gets tried as the archive changes.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Record:
    evaluated: int = 0
    improved: int = 0
    wasted: int = 0

    @property
    def rate(self) -> float:
        return (1 + self.improved) / (2 + self.evaluated + self.wasted)


def shares(
    names: Sequence[str], records: Mapping[str, Record], *, floor: float
) -> dict[str, float]:
    """Each operator's share of the next children (they sum to 1)."""
    if not names:
        return {}
    raw = {n: records.get(n, Record()).rate for n in names}
    total = sum(raw.values())
    share = {n: v / total for n, v in raw.items()}
    floor = min(floor, 1 / len(names))
    short = [n for n in names if share[n] < floor]
    if short:
        spare = 1 - floor * len(short)
        rest = sum(share[n] for n in names if n not in short)
        share = {n: floor if n in short else share[n] / rest * spare for n in names}
    return share


def choose(share: Mapping[str, float], rng: random.Random) -> str:
    names = sorted(share)
    return rng.choices(names, weights=[share[n] for n in names], k=1)[0]
