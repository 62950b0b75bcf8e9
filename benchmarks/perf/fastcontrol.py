"""An exact, fast evaluation path for the control suite, for the efficacy benchmark only.

The sandboxed path steps one Gymnasium environment per episode in Python and asks the
worker for actions over the wire. Here the four classic-control dynamics are compiled
(numba) and step every active episode of a lane at once, and the strategy's `act` is called
in this process with exactly the batches the worker would get: the same three lanes of
episodes, each lane's rows of each goal, in the same order. Resets are Gymnasium's own
(the environment's seeded generator), so every episode starts where the real one starts;
the dynamics repeat Gymnasium's arithmetic operation for operation, in float64 and — where
Gymnasium computes in float32 — in float32. `tests/perf_fastcontrol_test.py` proves the
episodes equal the sandboxed path's to the last digit.

Trusted code only: strategies run unconfined here, which a benchmark of the bot's own seed
strategies may do and a user's loop never does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import math
import sys
import time
import types
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.evaluator import LANES, Episode, action_spec, check_actions  # noqa: E402
from bot.goals import Goal  # noqa: E402
from bot.sandbox import WorkerFailure  # noqa: E402

# Gymnasium squares numpy scalars with `**`, which is the C library's pow — not always the
# same double as x * x — so the compiled dynamics call the very same functions
_LIBM = ctypes.CDLL(ctypes.util.find_library("m"))
_pow = _LIBM.pow
_pow.argtypes, _pow.restype = [ctypes.c_double, ctypes.c_double], ctypes.c_double
_powf = _LIBM.powf
_powf.argtypes, _powf.restype = [ctypes.c_float, ctypes.c_float], ctypes.c_float


# ---- the dynamics, as Gymnasium 1.x computes them -----------------------------------------
@njit(cache=False)
def _cartpole(s, rows, actions, obs, reward, done):  # type: ignore[no-untyped-def]
    gravity = 9.8
    masscart = 1.0
    masspole = 0.1
    total_mass = masspole + masscart
    length = 0.5
    polemass_length = masspole * length
    force_mag = 10.0
    tau = 0.02
    theta_threshold = 12 * 2 * math.pi / 360
    x_threshold = 2.4
    for k in range(rows.size):
        i = rows[k]
        x, x_dot, theta, theta_dot = s[i, 0], s[i, 1], s[i, 2], s[i, 3]
        force = force_mag if actions[k] == 1 else -force_mag
        costheta = math.cos(theta)
        sintheta = math.sin(theta)
        temp = (force + polemass_length * (theta_dot * theta_dot) * sintheta) / total_mass
        thetaacc = (gravity * sintheta - costheta * temp) / (
            length * (4.0 / 3.0 - masspole * (costheta * costheta) / total_mass)
        )
        xacc = temp - polemass_length * thetaacc * costheta / total_mass
        x = x + tau * x_dot
        x_dot = x_dot + tau * xacc
        theta = theta + tau * theta_dot
        theta_dot = theta_dot + tau * thetaacc
        s[i, 0], s[i, 1], s[i, 2], s[i, 3] = x, x_dot, theta, theta_dot
        done[k] = (
            x < -x_threshold
            or x > x_threshold
            or theta < -theta_threshold
            or theta > theta_threshold
        )
        reward[k] = 1.0
        for j in range(4):
            obs[k, j] = np.float32(s[i, j])


@njit(cache=False)
def _acrobot_dsdt(y):  # type: ignore[no-untyped-def]
    m1 = 1.0
    m2 = 1.0
    l1 = 1.0
    lc1 = 0.5
    lc2 = 0.5
    I1 = 1.0
    I2 = 1.0
    g = 9.8
    a = y[4]
    theta1, theta2, dtheta1, dtheta2 = y[0], y[1], y[2], y[3]
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * math.cos(theta2)) + I1 + I2
    d2 = m2 * (lc2**2 + l1 * lc2 * math.cos(theta2)) + I2
    phi2 = m2 * lc2 * g * math.cos(theta1 + theta2 - math.pi / 2.0)
    phi1 = (
        -m2 * l1 * lc2 * _pow(dtheta2, 2.0) * math.sin(theta2)
        - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * math.sin(theta2)
        + (m1 * lc1 + m2 * l1) * g * math.cos(theta1 - math.pi / 2)
        + phi2
    )
    ddtheta2 = (
        a + d2 / d1 * phi1 - m2 * l1 * lc2 * _pow(dtheta1, 2.0) * math.sin(theta2) - phi2
    ) / (m2 * lc2**2 + I2 - _pow(d2, 2.0) / d1)
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    out = np.empty(5)
    out[0], out[1], out[2], out[3], out[4] = dtheta1, dtheta2, ddtheta1, ddtheta2, 0.0
    return out


@njit(cache=False)
def _acrobot(s, rows, actions, obs, reward, done):  # type: ignore[no-untyped-def]
    torques = (-1.0, 0.0, 1.0)
    max_vel_1 = 4 * math.pi
    max_vel_2 = 9 * math.pi
    dt = 0.2 - 0
    dt2 = dt / 2.0
    diff = math.pi - (-math.pi)
    y0 = np.empty(5)
    for k in range(rows.size):
        i = rows[k]
        for j in range(4):
            y0[j] = s[i, j]
        y0[4] = torques[actions[k]]
        k1 = _acrobot_dsdt(y0)
        k2 = _acrobot_dsdt(y0 + dt2 * k1)
        k3 = _acrobot_dsdt(y0 + dt2 * k2)
        k4 = _acrobot_dsdt(y0 + dt * k3)
        ns = y0 + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        for j in range(2):
            x = ns[j]
            while x > math.pi:
                x = x - diff
            while x < -math.pi:
                x = x + diff
            ns[j] = x
        ns[2] = min(max(ns[2], -max_vel_1), max_vel_1)
        ns[3] = min(max(ns[3], -max_vel_2), max_vel_2)
        for j in range(4):
            s[i, j] = ns[j]
        terminal = -math.cos(ns[0]) - math.cos(ns[1] + ns[0]) > 1.0
        done[k] = terminal
        reward[k] = 0.0 if terminal else -1.0
        obs[k, 0] = np.float32(math.cos(ns[0]))
        obs[k, 1] = np.float32(math.sin(ns[0]))
        obs[k, 2] = np.float32(math.cos(ns[1]))
        obs[k, 3] = np.float32(math.sin(ns[1]))
        obs[k, 4] = np.float32(ns[2])
        obs[k, 5] = np.float32(ns[3])


@njit(cache=False)
def _mountaincar(s, rows, actions, obs, reward, done):  # type: ignore[no-untyped-def]
    force = 0.001
    gravity = 0.0025
    for k in range(rows.size):
        i = rows[k]
        position, velocity = s[i, 0], s[i, 1]
        velocity = velocity + ((actions[k] - 1) * force + math.cos(3 * position) * (-gravity))
        velocity = min(max(velocity, -0.07), 0.07)
        position = position + velocity
        position = min(max(position, -1.2), 0.6)
        if position == -1.2 and velocity < 0:
            velocity = 0.0
        s[i, 0], s[i, 1] = position, velocity
        done[k] = position >= 0.5 and velocity >= 0
        reward[k] = -1.0
        obs[k, 0] = np.float32(position)
        obs[k, 1] = np.float32(velocity)


@njit(cache=False)
def _pendulum(s, rows, actions, obs, reward, done):  # type: ignore[no-untyped-def]
    for k in range(rows.size):
        i = rows[k]
        th, thdot = s[i, 0], s[i, 1]
        u = min(max(actions[k], np.float32(-2.0)), np.float32(2.0))  # float32, as Gymnasium
        normal = ((th + math.pi) % (2 * math.pi)) - math.pi
        small = np.float32(np.float32(0.001) * _powf(u, np.float32(2.0)))
        costs = _pow(normal, 2.0) + 0.1 * _pow(thdot, 2.0) + np.float64(small)
        newthdot = (
            thdot + (3 * 10.0 / (2 * 1.0) * math.sin(th) + np.float64(np.float32(3.0) * u)) * 0.05
        )
        newthdot = min(max(newthdot, -8.0), 8.0)
        newth = th + newthdot * 0.05
        s[i, 0], s[i, 1] = newth, newthdot
        done[k] = False
        reward[k] = -costs
        obs[k, 0] = np.float32(math.cos(newth))
        obs[k, 1] = np.float32(math.sin(newth))
        obs[k, 2] = np.float32(newthdot)


DYNAMICS: dict[str, tuple[Callable[..., None], int]] = {
    "CartPole-v1": (_cartpole, 4),
    "Acrobot-v1": (_acrobot, 4),
    "MountainCar-v0": (_mountaincar, 2),
    "Pendulum-v1": (_pendulum, 2),
}


# ---- resets: Gymnasium's own ---------------------------------------------------------------
class Resets:
    """Each (environment, seed)'s first observation and state, from the real environment."""

    def __init__(self) -> None:
        self._envs: dict[str, Any] = {}
        self._done: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
        self.specs: dict[str, tuple[int, dict[str, Any]]] = {}

    def env(self, env_id: str) -> Any:
        if env_id not in self._envs:
            import gymnasium

            env = gymnasium.make(env_id)
            self._envs[env_id] = env
            self.specs[env_id] = (
                int(np.prod(env.observation_space.shape)),
                action_spec(env.action_space),
            )
        return self._envs[env_id]

    def __call__(self, env_id: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
        key = (env_id, int(seed))
        if key not in self._done:
            env = self.env(env_id)
            first = np.asarray(env.reset(seed=int(seed))[0], dtype=np.float64).ravel()
            state = np.asarray(env.unwrapped.state, dtype=np.float64).ravel()
            self._done[key] = (first, state)
        return self._done[key]


class _Goal:
    """One goal's episodes of an evaluation: states, observations, returns, failures."""

    def __init__(self, goal: Goal, seeds: Sequence[int], first: int, resets: Resets) -> None:
        if goal.env_id not in DYNAMICS:
            raise ValueError(f"goal {goal.goal_id}: no fast dynamics for {goal.env_id}")
        self.goal, self.seeds, self.first = goal, tuple(int(s) for s in seeds), first
        self.step_fn, width = DYNAMICS[goal.env_id]
        starts = [resets(goal.env_id, s) for s in self.seeds]
        n = len(self.seeds)
        self.obs = np.array([o for o, _ in starts], dtype=np.float64).reshape(n, -1)
        self.state = np.array([st for _, st in starts], dtype=np.float64).reshape(n, width)
        self.returns = np.zeros(n)
        self.steps = np.zeros(n, dtype=np.int64)
        self.failure: list[str | None] = [None] * n
        self.active = list(range(n))
        self.dim, self.action = resets.specs[goal.env_id]
        self.discrete = self.action["type"] == "discrete"

    def spec(self) -> dict[str, Any]:
        return {
            "goal_id": self.goal.goal_id,
            "env_id": self.goal.env_id,
            "obs_dim": self.dim,
            "action": self.action,
        }

    def fail(self, rows: Sequence[int], kind: str) -> None:
        gone = set(rows) & set(self.active)
        for i in gone:
            self.failure[i] = kind
        self.active = [i for i in self.active if i not in gone]

    def _all_valid(self, actions: np.ndarray, count: int) -> bool:
        """What check_actions finds for the common case, cheaply: integer discrete actions of
        the right shape, all in range (anything else goes through check_actions itself)."""
        return (
            self.discrete
            and actions.dtype.kind in "iu"
            and actions.shape == (count,)
            and int(actions.min()) >= 0
            and int(actions.max()) < self.action["n"]
        )

    def apply(self, rows: list[int], actions: np.ndarray) -> None:
        """Session._apply: check the lane's actions, step the valid rows, fail the rest."""
        index = np.asarray(rows, dtype=np.int64)
        if self._all_valid(actions, len(rows)):
            self._step(index, actions.astype(np.int64))
            return
        try:
            valid = check_actions(actions, self.action, len(rows))
        except WorkerFailure as failure:
            self.fail(rows, failure.kind)
            return
        every = bool(valid.all())
        good = index if every else index[valid]
        if good.size:
            if self.discrete:
                chosen = np.where(valid, actions, 0).astype(np.int64)
            else:
                chosen = actions.reshape(len(rows), -1).astype(np.float32)[:, 0].copy()
            if not every:
                chosen = chosen[valid]
            self._step(good, chosen)
        if not every:
            self.fail(index[~valid].tolist(), "invalid_action")

    def _step(self, good: np.ndarray, chosen: np.ndarray) -> None:
        """Step the rows `good` by their actions; end those that terminated or ran out."""
        obs = np.empty((good.size, self.obs.shape[1]), dtype=np.float32)
        reward = np.empty(good.size)
        done = np.empty(good.size, dtype=np.bool_)
        self.step_fn(self.state, good, chosen, obs, reward, done)
        self.returns[good] += reward  # each episode's own running sum, step by step
        self.steps[good] += 1
        self.obs[good] = obs
        ended = good[done | (self.steps[good] >= self.goal.max_steps)]
        if ended.size:
            gone = set(ended.tolist())
            self.active = [i for i in self.active if i not in gone]

    def episodes(self, seconds: float) -> list[Episode]:
        return [
            Episode(
                self.goal.goal_id,
                self.first + i,
                self.seeds[i],
                self.goal.min_reward if self.failure[i] else float(self.returns[i]),
                int(self.steps[i]),
                self.failure[i],
                seconds,
            )
            for i in range(len(self.seeds))
        ]


class ControlEvaluate:
    """Episodes of a strategy held in memory (its folder's files), as Session.run returns
    them for gymnasium goals."""

    def __init__(self) -> None:
        self.resets = Resets()
        self._policies: dict[bytes, Callable[..., Any]] = {}

    def make_policy(self, files: dict[str, bytes], entry: str) -> Callable[..., Any]:
        file_name, func_name = entry.split(":")
        code = files[file_name]
        if code not in self._policies:
            module = types.ModuleType(f"augnes_fastcontrol_{len(self._policies)}")
            exec(compile(code, file_name, "exec"), module.__dict__)  # noqa: S102 - trusted seeds
            self._policies[code] = getattr(module, func_name)
        return self._policies[code]

    def __call__(
        self, source: Any, plan: Sequence[tuple[Goal, Sequence[int], int]]
    ) -> list[Episode]:
        make = self.make_policy(source.files, source.manifest.entry)
        params = json.loads(source.files["params.json"])
        started = time.perf_counter()
        goals = [_Goal(g, seeds, first, self.resets) for g, seeds, first in plan if seeds]
        if any(g.goal.kind != "gymnasium" for g in goals):
            raise ValueError("the control evaluator steps gymnasium goals only")
        policies: dict[str, Any] = {}
        for g in goals:
            try:
                policies[g.goal.goal_id] = make(params, g.spec())
            except Exception:
                g.fail(list(g.active), "crash")
        self._lockstep(goals, policies)
        seconds = round(time.perf_counter() - started, 6)
        return [ep for g in goals for ep in g.episodes(seconds)]

    def _lockstep(self, goals: list[_Goal], policies: dict[str, Any]) -> None:
        """Session._lockstep with the worker here: LANES lanes of rows (by index), each
        lane's request answered goal by goal in the order the worker answers them."""
        inflight: deque[list[tuple[_Goal, list[int], np.ndarray]]] = deque()

        def request(lane: int) -> None:
            sent = []
            for g in goals:
                if rows := [i for i in g.active if i % LANES == lane]:
                    obs = g.obs[rows]
                    obs.setflags(write=False)  # as the worker's view of the wire's bytes
                    sent.append((g, rows, obs))
            if sent:
                inflight.append(sent)

        for lane in range(LANES):
            request(lane)
        while inflight:
            sent = inflight.popleft()
            lane = sent[0][1][0] % LANES
            for g, rows, obs in sent:
                policy = policies.get(g.goal.goal_id)
                if policy is None:
                    g.fail(rows, "protocol")
                    continue
                try:
                    actions = np.ascontiguousarray(np.asarray(policy.act(obs)))
                except Exception:
                    g.fail(rows, "crash")
                    continue
                # what travels back over the wire: the array's bytes in its own dtype
                wire = np.frombuffer(actions.tobytes(), dtype=actions.dtype).reshape(actions.shape)
                g.apply(rows, wire)
            request(lane)
