"""A tunable priority for online bin packing. With its seed parameters it is best fit; the
operators tune how the room an item would leave (the gap) is scored:

    score = -gap ** gap_power
            + exact_bonus      if the item fills the bin exactly
            - sliver_penalty   if it leaves a sliver (0 < gap <= sliver_limit)
            + fill_weight * (capacity - bin) / capacity   (prefer fuller bins)
            + target_weight * exp(-((gap - target_gap) / target_width) ** 2)
                               (a pull toward leaving a gap of about target_gap, room a
                                later item may still use)
            - open_penalty     for the empty bin
"""

from __future__ import annotations

import numpy as np


class Priority:
    def __init__(self, params: dict, spec: dict) -> None:
        self.p = params
        self.capacity = float(spec.get("capacity", 100))

    def act(self, obs: np.ndarray) -> np.ndarray:
        p = self.p
        item, bins = obs[0, 0], obs[0, 1:]
        gap = np.maximum(bins - item, 0.0)
        score = -(gap ** p["gap_power"])
        score = score + p["exact_bonus"] * (gap == 0)
        score = score - p["sliver_penalty"] * ((gap > 0) & (gap <= p["sliver_limit"]))
        score = score + p["fill_weight"] * (self.capacity - bins) / self.capacity
        score = score + p["target_weight"] * np.exp(
            -(((gap - p["target_gap"]) / p["target_width"]) ** 2)
        )
        score[-1] -= p["open_penalty"]  # the last bin offered is an empty one
        return score


def make_policy(params: dict, spec: dict) -> Priority:
    return Priority(params, spec)
