"""Transition buffers: (s, a, s') rows the trusted evaluator observed while it stepped the
environments — never anything a strategy reported. One file per goal, the most recent
`capacity` rows kept, stored as a NumPy archive without pickles and replaced atomically."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.errors import LineageFileError
from bot.evaluator import Transitions
from bot.lineage_files import atomic_write

KEYS = ("obs", "act", "next_obs")


@dataclass
class Buffer:
    goal_id: str
    obs: np.ndarray  # (n, obs_dim) float32
    act: np.ndarray  # (n, act_dim) float32
    next_obs: np.ndarray  # (n, obs_dim) float32

    def __len__(self) -> int:
        return int(self.obs.shape[0])

    @classmethod
    def empty(cls, goal_id: str) -> Buffer:
        none = np.zeros((0, 0), dtype=np.float32)
        return cls(goal_id, none, none, none)

    def add(self, rows: Transitions, *, capacity: int) -> int:
        """Append observed rows, keeping the newest `capacity`; returns how many came in."""
        if not rows.obs:
            return 0
        obs = np.asarray(np.stack(rows.obs), dtype=np.float32)
        act = np.asarray(np.stack(rows.actions), dtype=np.float32).reshape(len(rows.obs), -1)
        nxt = np.asarray(np.stack(rows.next_obs), dtype=np.float32)
        if len(self):
            if obs.shape[1] != self.obs.shape[1] or act.shape[1] != self.act.shape[1]:
                raise LineageFileError(
                    f"transitions of {self.goal_id} changed shape ({self.obs.shape[1]}+"
                    f"{self.act.shape[1]} → {obs.shape[1]}+{act.shape[1]}); delete the buffer "
                    "(`augnes world-model sample --fresh`)"
                )
            obs, act, nxt = (
                np.concatenate([a, b])
                for a, b in ((self.obs, obs), (self.act, act), (self.next_obs, nxt))
            )
        self.obs, self.act, self.next_obs = obs[-capacity:], act[-capacity:], nxt[-capacity:]
        return len(rows.obs)

    def subset(self, size: int, *, seed: int) -> Buffer:
        """`size` rows drawn without replacement (seeded): a smaller buffer with the same mix
        of variants and episodes, for capacity experiments."""
        if size >= len(self):
            return self
        rows = np.sort(np.random.default_rng(seed).choice(len(self), size=size, replace=False))
        return Buffer(self.goal_id, self.obs[rows], self.act[rows], self.next_obs[rows])


def buffer_path(folder: Path, goal_id: str) -> Path:
    return folder / f"{goal_id}.npz"


def load_buffer(folder: Path, goal_id: str) -> Buffer:
    path = buffer_path(folder, goal_id)
    if not path.exists():
        return Buffer.empty(goal_id)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k], dtype=np.float32) for k in KEYS}
    except (OSError, ValueError, KeyError) as exc:
        raise LineageFileError(
            f"{path}: unreadable transition buffer ({exc}); delete it and sample again"
        ) from None
    n = {a.shape[0] for a in arrays.values()}
    if len(n) != 1 or any(a.ndim != 2 for a in arrays.values()):
        raise LineageFileError(f"{path}: arrays of different lengths; delete it and sample again")
    return Buffer(goal_id, arrays["obs"], arrays["act"], arrays["next_obs"])


def save_buffer(folder: Path, buffer: Buffer) -> Path:
    path = buffer_path(folder, buffer.goal_id)
    out = io.BytesIO()
    np.savez(out, obs=buffer.obs, act=buffer.act, next_obs=buffer.next_obs)
    atomic_write(path, out.getvalue())
    return path
