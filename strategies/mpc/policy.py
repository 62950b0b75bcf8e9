"""Model-predictive control with a learned world model.

At every step, for each episode in the batch, `samples` random action sequences of length
`horizon` are rolled forward through the goal's world model (a small MLP the harness trained
on transitions it observed and hands over as arrays); each imagined trajectory is scored with
the goal's known reward rule, plus a `shaping` term (mechanical energy, for the goals whose
reward is sparse), and the first action of the best sequence is played. Without a model the
strategy plays seeded random actions, so a poor model shows up as regret.
"""

from __future__ import annotations

import zlib

import numpy as np


class WorldModel:
    """The MLP's forward pass in numpy: normalised (s, a) in, normalised Δs out."""

    def __init__(self, arrays: dict, meta: dict) -> None:
        self.a = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
        self.actions = meta.get("actions")
        index = sorted(
            {int(k.split(".")[1]) for k in self.a if k.startswith("net.") and k.endswith("weight")}
        )
        self.layers = [(self.a[f"net.{i}.weight"].T, self.a[f"net.{i}.bias"]) for i in index]

    def step(self, state: np.ndarray, action: np.ndarray) -> np.ndarray:
        if self.actions:
            act = np.eye(self.actions)[action.astype(np.int64)]
        else:
            act = action.reshape(len(state), -1)
        h = (np.concatenate([state, act], axis=1) - self.a["in_mean"]) / self.a["in_std"]
        for n, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if n < len(self.layers) - 1:
                h = np.tanh(h)
        return state + h * self.a["out_std"] + self.a["out_mean"]


def _cartpole(s, a, nxt):
    x, theta = nxt[:, 0], nxt[:, 2]
    alive = (np.abs(x) < 2.4) & (np.abs(theta) < 0.2095)
    shaping = -(theta**2) - 0.01 * x**2 - 0.01 * nxt[:, 3] ** 2
    return alive.astype(float) + 0.1 * shaping, ~alive


def _pendulum(s, a, nxt):
    theta = np.arctan2(s[:, 1], s[:, 0])
    u = np.clip(a.reshape(len(s), -1)[:, 0], -2.0, 2.0)
    return -(theta**2 + 0.1 * s[:, 2] ** 2 + 0.001 * u**2), np.zeros(len(s), dtype=bool)


def _mountaincar(s, a, nxt):
    done = nxt[:, 0] >= 0.5
    return -np.ones(len(s)), done


def _mountaincar_energy(s):
    return 1000.0 * (0.5 * s[:, 1] ** 2 + 0.0025 / 3.0 * np.sin(3.0 * s[:, 0]))


def _acrobot_height(s):
    c1, s1, c2, s2 = s[:, 0], s[:, 1], s[:, 2], s[:, 3]
    return -c1 - (c1 * c2 - s1 * s2)


def _acrobot(s, a, nxt):
    done = _acrobot_height(nxt) > 1.0
    return -np.ones(len(s)), done


def _acrobot_energy(s):
    return _acrobot_height(s) + 0.05 * (s[:, 4] ** 2 + s[:, 5] ** 2)


RULES = {
    "CartPole-v1": (_cartpole, None),
    "Pendulum-v1": (_pendulum, None),
    "MountainCar-v0": (_mountaincar, _mountaincar_energy),
    "Acrobot-v1": (_acrobot, _acrobot_energy),
}


class MPCPolicy:
    def __init__(self, params: dict, spec: dict) -> None:
        self.action = spec["action"]
        self.discrete = self.action["type"] == "discrete"
        self.rng = np.random.default_rng(
            int(params["seed"]) * 7919 + zlib.crc32(spec["goal_id"].encode()) % 7919
        )
        self.horizon = int(params["horizon"])
        self.samples = int(params["samples"])
        self.gamma = float(params["gamma"])
        self.shaping = float(params["shaping"])
        self.rule, self.energy = RULES.get(spec["env_id"], (None, None))
        arrays, meta = spec.get("arrays"), spec.get("world_model")
        self.model = WorldModel(arrays, meta) if arrays and meta and self.rule else None

    def _random(self, shape: tuple) -> np.ndarray:
        if self.discrete:
            return self.rng.integers(0, self.action["n"], size=shape)
        low, high = np.asarray(self.action["low"]), np.asarray(self.action["high"])
        return self.rng.uniform(low, high, size=(*shape, len(low)))

    def act(self, obs: np.ndarray) -> np.ndarray:
        batch = len(obs)
        if self.model is None:
            return self._random((batch,))
        n, h = self.samples, self.horizon
        plans = self._random((batch * n, h))
        state = np.repeat(obs, n, axis=0)
        total = np.zeros(batch * n)
        alive = np.ones(batch * n)
        for t in range(h):
            action = plans[:, t]
            nxt = self.model.step(state, action)
            reward, done = self.rule(state, action, nxt)
            total += alive * self.gamma**t * reward
            alive = alive * (~done)
            state = nxt
        if self.energy is not None:
            total += alive * self.shaping * self.energy(state)
        best = total.reshape(batch, n).argmax(axis=1)
        first = plans.reshape(batch, n, h, *plans.shape[2:])[np.arange(batch), best, 0]
        return first.astype(np.int64) if self.discrete else first.astype(np.float64)


def make_policy(params: dict, spec: dict) -> MPCPolicy:
    return MPCPolicy(params, spec)
