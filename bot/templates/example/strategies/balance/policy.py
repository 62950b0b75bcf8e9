"""An example strategy for CartPole: push toward where the pole is falling.

Augnes evolves `params.json` (and, with code operators, this file). `make_policy` gets the
parameters and the goal's description; `act` gets a batch of observations and returns one
action per row. The example starts badly tuned — `rate_gain` pushes against the pole's fall
— so that the first `augnes run` has something to find: a merged child within a few
generations.
"""

from __future__ import annotations

import numpy as np


class Balance:
    def __init__(self, params: dict[str, float], spec: dict[str, object]) -> None:
        self.angle_gain = float(params["angle_gain"])
        self.rate_gain = float(params["rate_gain"])

    def act(self, obs: np.ndarray) -> np.ndarray:
        lean = self.angle_gain * obs[:, 2] + self.rate_gain * obs[:, 3]
        return (lean > 0).astype(np.int64)


def make_policy(params: dict[str, float], spec: dict[str, object]) -> Balance:
    return Balance(params, spec)
