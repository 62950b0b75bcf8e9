"""Hand-written controllers, one per goal, whose gains are the evolvable parameters."""

from __future__ import annotations

import numpy as np


def _cartpole(p: dict, obs: np.ndarray) -> np.ndarray:
    x, x_dot, theta, theta_dot = obs.T
    push = p["cart_angle_gain"] * theta + p["cart_rate_gain"] * theta_dot
    push += p["cart_position_gain"] * (0.1 * x + 0.1 * x_dot)
    return (push > 0).astype(np.int64)


def _acrobot(p: dict, obs: np.ndarray) -> np.ndarray:
    dtheta1, dtheta2 = obs[:, 4], obs[:, 5]
    if p["acro_pump"] == "joint1":
        drive = dtheta1
    elif p["acro_pump"] == "joint2":
        drive = dtheta2
    else:
        drive = dtheta1 + dtheta2
    drive = drive + p["acro_mix"] * dtheta1
    return np.where(drive > 0, 2, 0).astype(np.int64)


def _mountaincar(p: dict, obs: np.ndarray) -> np.ndarray:
    position, velocity = obs[:, 0], obs[:, 1]
    # Push along the velocity to pump energy; the threshold moves with the position.
    threshold = p["car_velocity_threshold"] * (position + p["car_position_bias"])
    return np.where(velocity > threshold, 2, 0).astype(np.int64)


def _pendulum(p: dict, obs: np.ndarray) -> np.ndarray:
    cos, sin, omega = obs.T
    theta = np.arctan2(sin, cos)
    omega_ahead = omega
    theta_ahead = theta + 0.05 * p["pend_steps_lookahead"] * omega
    balance = -p["pend_kp"] * theta_ahead - p["pend_kd"] * omega_ahead
    energy = 0.5 * omega**2 + 10.0 * (cos - 1.0)  # zero when upright and still
    swing = -p["pend_energy_gain"] * energy * np.sign(omega * cos + 1e-9)
    torque = np.where(cos > p["pend_capture_cos"], balance, swing)
    return np.clip(torque, -2.0, 2.0).reshape(-1, 1)


CONTROLLERS = {
    "cartpole": _cartpole,
    "acrobot": _acrobot,
    "mountaincar": _mountaincar,
    "pendulum": _pendulum,
}


class HeuristicPolicy:
    def __init__(self, params: dict, spec: dict) -> None:
        self.params = params
        self.controller = CONTROLLERS.get(spec["goal_id"])
        self.action = spec["action"]

    def act(self, obs: np.ndarray) -> np.ndarray:
        if self.controller is not None:
            return self.controller(self.params, obs)
        if self.action["type"] == "box":
            return np.zeros((len(obs), len(self.action["low"])))
        return np.zeros(len(obs), dtype=np.int64)


def make_policy(params: dict, spec: dict) -> HeuristicPolicy:
    return HeuristicPolicy(params, spec)
