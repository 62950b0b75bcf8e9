"""A two-layer torch MLP policy. Its weights are drawn from `init_seed` (mixed with the goal),
so the evolvable genome is small: size, seed, weight scale, input scaling and activation."""

from __future__ import annotations

import zlib

import numpy as np
import torch


class MLPPolicy:
    def __init__(self, params: dict, spec: dict) -> None:
        torch.set_num_threads(1)
        obs_dim = spec["obs_dim"]
        self.action = spec["action"]
        out_dim = self.action["n"] if self.action["type"] == "discrete" else len(self.action["low"])
        generator = torch.Generator().manual_seed(
            int(params["init_seed"]) * 7919 + zlib.crc32(spec["goal_id"].encode()) % 7919
        )
        hidden = int(params["hidden_dim"])
        scale = float(params["weight_scale"])
        self.net = torch.nn.Sequential(
            torch.nn.Linear(obs_dim, hidden),
            torch.nn.Tanh() if params["activation"] == "tanh" else torch.nn.ReLU(),
            torch.nn.Linear(hidden, out_dim),
        )
        with torch.no_grad():
            for layer in (self.net[0], self.net[2]):
                fan_in = layer.weight.shape[1]
                layer.weight.copy_(
                    torch.randn(layer.weight.shape, generator=generator) * scale / fan_in**0.5
                )
                layer.bias.copy_(torch.randn(layer.bias.shape, generator=generator) * 0.1 * scale)
        scales = list(params["input_scale"]) + [1.0] * obs_dim
        self.input_scale = torch.tensor(scales[:obs_dim], dtype=torch.float32)

    def act(self, obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = self.net(torch.as_tensor(obs, dtype=torch.float32) * self.input_scale)
        if self.action["type"] == "discrete":
            return out.argmax(dim=1).numpy().astype(np.int64)
        low = np.asarray(self.action["low"])
        high = np.asarray(self.action["high"])
        return np.tanh(out.numpy().astype(np.float64)) * (high - low) / 2 + (high + low) / 2


def make_policy(params: dict, spec: dict) -> MLPPolicy:
    return MLPPolicy(params, spec)
