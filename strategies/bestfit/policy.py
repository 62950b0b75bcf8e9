"""Best fit: the bin the item fills most tightly (the empty bin leaves the most room, so it
is chosen only when nothing else fits)."""

from __future__ import annotations

import numpy as np


class BestFit:
    def act(self, obs: np.ndarray) -> np.ndarray:
        item, bins = obs[0, 0], obs[0, 1:]
        return -(bins - item)


def make_policy(params: dict, spec: dict) -> BestFit:
    return BestFit()
