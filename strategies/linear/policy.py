"""A linear policy: one score s = w·obs + b per goal.

Discrete actions: two actions pick by the sign of s; three actions (left, none, right) pick
by s below -deadband, inside, or above. Continuous actions: s clipped to the action range.
"""

from __future__ import annotations

import numpy as np


class LinearPolicy:
    def __init__(self, weights: list[float], deadband: float, action: dict) -> None:
        self.w = np.asarray(weights[:-1], dtype=np.float64)
        self.b = float(weights[-1])
        self.deadband = deadband
        self.action = action

    def act(self, obs: np.ndarray) -> np.ndarray:
        n = min(len(self.w), obs.shape[1])
        score = obs[:, :n] @ self.w[:n] + self.b
        if self.action["type"] == "box":
            low, high = self.action["low"][0], self.action["high"][0]
            return np.clip(score, low, high).reshape(-1, 1)
        if self.action["n"] == 2:
            return (score > 0).astype(np.int64)
        out = np.ones(len(score), dtype=np.int64)
        out[score < -self.deadband] = 0
        out[score > self.deadband] = 2
        return out


def make_policy(params: dict, spec: dict) -> LinearPolicy:
    weights = params.get(spec["goal_id"]) or [0.0] * (spec["obs_dim"] + 1)
    return LinearPolicy(weights, params["deadband"], spec["action"])
