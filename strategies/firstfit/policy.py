"""First fit: the earliest opened bin that the item fits (a new bin only when none does).

`act` receives one row per instance: the item's size, then the remaining capacity of every
open bin it fits in opening order, then one empty bin; it returns a priority per bin."""

from __future__ import annotations

import numpy as np


class FirstFit:
    def act(self, obs: np.ndarray) -> np.ndarray:
        bins = obs[0, 1:]
        return -np.arange(len(bins), dtype=np.float64)


def make_policy(params: dict, spec: dict) -> FirstFit:
    return FirstFit()
