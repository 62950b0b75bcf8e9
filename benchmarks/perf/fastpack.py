"""An exact, fast evaluation path for the bin-packing goal, for the efficacy benchmark only.

The bot evaluates a strategy in a sandboxed worker, one wire round trip per item: about a
second per evaluation of 20 instances of 5,000 items. The efficacy protocol needs a hundred
thousand evaluations, so the benchmark packs in this process instead — the same instances,
the same placements, the same bins, the same rewards to the last digit (proved by
`tests/perf_fastpack_test.py` against the sandboxed path) — and runs the bot's planner,
operators, archive and selection unchanged on top.

Two ways to pack, the first used whenever it is exact:

- **by table**: a priority that is a stateless function of (item, room) per bin — probed:
  the strategy's scores for shuffled, repeated rooms must equal their table entries — is
  read once per item size into a table, and a compiled loop packs with it. Bins with the
  same room score alike, so the loop keeps, per room, the open bins in opening order and
  compares one score per distinct room; ties between rooms go to the earlier bin, as the
  trusted side's argmax does. Where the best two distinct rooms score within `NEAR_TIE` of
  each other, the table might round differently than the strategy's own arithmetic on that
  observation, so that one item is decided by calling the strategy on the real observation.
- **in lockstep**: anything else (first fit reads positions) is called exactly as the
  worker would call it — one row per unfinished instance per item, in instance order — in
  this process.

Trusted code only: the strategies run unconfined here. That is what a benchmark of the
bot's own seed strategies may do and what a user's loop never does.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import sys
import time
import tomllib
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.evaluator import (  # noqa: E402
    Episode,
    pack_lanes,
    packing_instance,
    packing_measures,
    packing_spec,
)
from bot.goals import Goal  # noqa: E402

NEAR_TIE = 1e-9  # relative gap between the best two rooms below which the strategy decides
PROBES = 12  # shuffled observations the table must reproduce before it is trusted
MAX_TABLE = 4096  # capacities up to this use a table (integral item sizes only)


def load_policy(folder: Path) -> tuple[Callable[..., Any], dict[str, Any]]:
    """The strategy's `make_policy` and parameter values, loaded in this process."""
    manifest = tomllib.loads((folder / "strategy.toml").read_text(encoding="utf-8"))
    params = json.loads((folder / "params.json").read_text(encoding="utf-8"))
    file_name, func_name = manifest["entry"].split(":")
    name = f"augnes_fastpack_{abs(hash(str(folder)))}"
    spec = importlib.util.spec_from_file_location(name, folder / file_name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, func_name), params


@dataclass(frozen=True)
class Packed:
    """One instance packed: bins opened, items placed, exact fits, its failure."""

    bins: int
    placed: int
    exact: int
    failure: str | None


# ---- the compiled loop ---------------------------------------------------------------------
# each room's open bins are a min-heap of bin indices: the earliest opened bin on top
@njit(cache=False)
def _sift_down(row: np.ndarray, n: int, k: int) -> None:
    while True:
        child = 2 * k + 1
        if child >= n:
            return
        if child + 1 < n and row[child + 1] < row[child]:
            child += 1
        if row[k] <= row[child]:
            return
        row[k], row[child] = row[child], row[k]
        k = child


@njit(cache=False)
def _sift_up(row: np.ndarray, k: int) -> None:
    while k > 0:
        parent = (k - 1) // 2
        if row[parent] <= row[k]:
            return
        row[k], row[parent] = row[parent], row[k]
        k = parent


@njit(cache=False)
def _remove(lists: np.ndarray, counts: np.ndarray, room: int, b: int) -> None:
    n = counts[room]
    row = lists[room]
    k = 0
    while row[k] != b:  # the top, unless the strategy itself chose another bin
        k += 1
    last = row[n - 1]
    counts[room] = n - 1
    if k == n - 1:
        return
    row[k] = last
    _sift_down(row, n - 1, k)
    _sift_up(row, k)


@njit(cache=False)
def _insert(lists: np.ndarray, counts: np.ndarray, room: int, b: int) -> None:
    n = counts[room]
    lists[room, n] = b
    counts[room] = n + 1
    _sift_up(lists[room], n)


@njit(cache=False)
def _place(
    sizes: np.ndarray,
    rooms: np.ndarray,
    lists: np.ndarray,
    counts: np.ndarray,
    state: np.ndarray,
    b: int,
    capacity: int,
) -> None:
    """Put item `state[0]` in bin `b` (`b == state[1]`: a new bin) and move on."""
    item = sizes[state[0]]
    if b == state[1]:
        left = capacity - item
        rooms[b] = left
        state[1] += 1
    else:
        _remove(lists, counts, rooms[b], b)
        left = rooms[b] - item
        rooms[b] = left
        if left == 0:
            state[2] += 1
    if left > 0:
        _insert(lists, counts, left, b)
    state[0] += 1


@njit(cache=False)
def _pack_table(
    sizes: np.ndarray,
    table: np.ndarray,
    order: np.ndarray,
    rooms: np.ndarray,
    lists: np.ndarray,
    counts: np.ndarray,
    state: np.ndarray,
    capacity: int,
    tol: float,
) -> bool:
    """Pack from item state[0] on; state = [position, bins opened, exact fits]. `order[item]`
    lists the rooms an item fits, best score first (ties: smaller room first; -1 ends it):
    the first two rooms that hold an open bin are the best two distinct scores. Returns True
    when done, False at an item whose decision is too close to call from the table."""
    n = sizes.size
    while state[0] < n:
        item = sizes[state[0]]
        best_room = -1
        second_room = -1
        for k in range(order.shape[1]):
            room = order[item, k]
            if room < 0:
                break
            if counts[room] == 0:
                continue
            if best_room < 0:
                best_room = room
            else:
                second_room = room
                break
        empty = table[item, capacity]
        if best_room >= 0:
            best = table[item, best_room]
            scale = tol * (1.0 + abs(best))
            if abs(empty - best) <= scale:
                return False
            if second_room >= 0 and best - table[item, second_room] <= scale:
                return False
        if best_room < 0 or empty > table[item, best_room]:
            _place(sizes, rooms, lists, counts, state, state[1], capacity)
        else:
            _place(sizes, rooms, lists, counts, state, lists[best_room, 0], capacity)
    return True


def rank_rooms(table: np.ndarray, capacity: int) -> np.ndarray:
    """Per item, the rooms it fits (item … capacity − 1), best score first."""
    order = np.full((capacity + 1, capacity), -1, dtype=np.int64)
    for item in range(1, capacity + 1):
        rooms = np.arange(item, capacity)
        if rooms.size:
            ranked = rooms[np.argsort(-table[item, item:capacity], kind="stable")]
            order[item, : ranked.size] = ranked
    return order


# ---- the packer ----------------------------------------------------------------------------
class Packer:
    """The goal's instances for `seeds`, packed for any strategy, exactly as the trusted side
    of the sandboxed evaluation packs them."""

    def __init__(
        self,
        goal: Goal,
        seeds: Sequence[int],
        tables: dict[tuple[str, str], np.ndarray | None] | None = None,
    ) -> None:
        self.goal = goal
        self.seeds = tuple(int(s) for s in seeds)
        self.sizes = [packing_instance(goal, s) for s in self.seeds]
        self.capacity = int(goal.capacity)
        self.integral = all(np.all(s == np.round(s)) for s in self.sizes)
        self.table_ok = self.integral and self.capacity <= MAX_TABLE
        self.by_table = 0  # evaluations packed by table, and in lockstep
        self.in_lockstep = 0
        self.ties = 0  # items the strategy decided on the real observation
        # tables by (code key, parameter values), shared by the packers of one evaluator
        self._tables = tables if tables is not None else {}
        self._ranked: tuple[int, np.ndarray, np.ndarray] | None = None  # the last table's
        self._scratch: tuple[np.ndarray, np.ndarray] | None = None

    def episodes(
        self, make_policy: Callable[..., Any], params: dict[str, Any], *, code: str = ""
    ) -> list[Episode]:
        """One Episode per instance, in seed order, as Session._pack returns them. `code`
        names the strategy's code, so its table is read once per parameter values."""
        started = time.perf_counter()
        try:
            policy = make_policy(params, packing_spec(self.goal))
        except Exception:
            policy = None
        if policy is None:
            packed = [Packed(0, 0, 0, "crash")] * len(self.seeds)
        else:
            table = self.table(policy, code, params) if self.table_ok else None
            if table is not None:
                self.by_table += 1
                packed = [self._pack_by_table(policy, table, s) for s in self.sizes]
            else:
                self.in_lockstep += 1
                packed = self._pack_in_lockstep(policy)
        seconds = round(time.perf_counter() - started, 6)
        return [self._episode(i, p, seconds) for i, p in enumerate(packed)]

    def _episode(self, i: int, p: Packed, seconds: float) -> Episode:
        goal = self.goal
        bound = math.ceil(float(self.sizes[i].sum()) / goal.capacity)
        excess = 100.0 * (p.bins - bound) / bound
        return Episode(
            goal.goal_id,
            i,
            self.seeds[i],
            goal.min_reward if p.failure else -excess,
            p.placed,
            p.failure,
            seconds,
            {}
            if p.failure
            else packing_measures(p.exact, p.bins, float(self.sizes[i].sum()), goal.capacity),
        )

    # -- by table --------------------------------------------------------------------------
    def table(self, policy: Any, code: str, params: dict[str, Any]) -> np.ndarray | None:
        """The policy's table, read once per strategy code and parameter values (each time
        when the code has no name)."""
        if not code:
            return self._table(policy)
        key = (f"{code}:{self.capacity}", json.dumps(params, sort_keys=True))
        if key not in self._tables:
            if len(self._tables) > 4096:
                self._tables.clear()
            self._tables[key] = self._table(policy)
        return self._tables[key]

    def _scores(self, policy: Any, row: np.ndarray) -> np.ndarray | None:
        try:
            out = np.asarray(policy.act(row.reshape(1, -1))).astype(np.float64).ravel()
        except Exception:
            return None
        if out.size != row.size - 1 or not np.isfinite(out).all():
            return None
        return out

    def _order(self, table: np.ndarray) -> np.ndarray:
        key = id(table)
        if self._ranked is None or self._ranked[0] != key:
            self._ranked = (key, rank_rooms(table, self.capacity), table)
        return self._ranked[1]

    def _table(self, policy: Any) -> np.ndarray | None:
        """table[item, room]: the strategy's score of a bin with `room` left for `item`
        (room == capacity: the empty bin, always offered last). None when the strategy is
        not a stateless per-bin function, as far as probes can tell."""
        c = self.capacity
        table = np.full((c + 1, c + 1), -np.inf)
        for item in range(1, c + 1):
            row = np.arange(item - 1, c + 1, dtype=np.float64)
            row[0] = item
            scores = self._scores(policy, row)
            if scores is None:
                return None
            table[item, item:] = scores
        rng = np.random.default_rng(12345)
        for _ in range(PROBES):
            item = int(rng.integers(1, c))
            rooms = rng.integers(item, c, size=int(rng.integers(1, 40)))
            row = np.concatenate(([item], rooms, [c])).astype(np.float64)
            scores = self._scores(policy, row)
            want = table[item, np.concatenate((rooms, [c]))]
            if scores is None or not np.allclose(scores, want, rtol=1e-12, atol=1e-12):
                return None
        return table

    def _pack_by_table(self, policy: Any, table: np.ndarray, sizes: np.ndarray) -> Packed:
        n, c = sizes.size, self.capacity
        order = self._order(table)
        items = sizes.astype(np.int64)
        if self._scratch is None or self._scratch[1].shape[1] < n:
            self._scratch = (np.zeros(n, dtype=np.int64), np.zeros((c + 1, n), dtype=np.int64))
        rooms, lists = self._scratch  # reused: the counts say what is in them
        counts = np.zeros(c + 1, dtype=np.int64)
        state = np.zeros(3, dtype=np.int64)
        while not _pack_table(items, table, order, rooms, lists, counts, state, c, NEAR_TIE):
            # too close to call from the table: the strategy decides on the real observation
            self.ties += 1
            item = int(items[state[0]])
            fits = np.flatnonzero(rooms[: state[1]] >= item)
            row = np.concatenate(([item], rooms[fits], [c])).astype(np.float64)
            scores = self._scores(policy, row)
            if scores is None:
                return Packed(int(state[1]), int(state[0]), int(state[2]), "invalid_action")
            choice = int(np.argmax(scores))
            b = int(state[1]) if choice == len(fits) else int(fits[choice])
            _place(items, rooms, lists, counts, state, b, c)
        return Packed(int(state[1]), int(state[0]), int(state[2]), None)

    # -- in lockstep -----------------------------------------------------------------------
    def _pack_in_lockstep(self, policy: Any) -> list[Packed]:
        """Session._pack's loop, the worker's calls made here in the worker's order: per
        item, one call of `act` per unfinished instance of the first lane, then of the
        second (the trusted side keeps one message in flight per lane)."""
        capacity = float(self.capacity)
        n, items = len(self.sizes), self.goal.items
        lanes = pack_lanes(n)
        remaining = [np.empty(items, dtype=np.float64) for _ in range(n)]
        opened, position, exact = [0] * n, [0] * n, [0] * n
        failure: list[str | None] = [None] * n

        def unfinished() -> list[int]:
            return [i for i in range(n) if failure[i] is None and position[i] < items]

        while unfinished():
            rows = [i for lane in range(lanes) for i in unfinished() if i % lanes == lane]
            for i in rows:
                item = float(self.sizes[i][position[i]])
                caps = remaining[i][: opened[i]]
                index = np.flatnonzero(caps >= item)
                try:
                    out = np.ascontiguousarray(
                        np.asarray(
                            policy.act(np.concatenate(([item], caps[index], [capacity]))[None, :])
                        )
                    )
                except Exception:
                    failure[i] = "crash"
                    continue
                scores = out.astype(np.float64).ravel()
                if scores.size != len(index) + 1 or not np.isfinite(scores).all():
                    failure[i] = "invalid_action"
                    continue
                choice = int(np.argmax(scores))
                if choice == len(index):
                    remaining[i][opened[i]] = capacity - item
                    opened[i] += 1
                else:
                    remaining[i][index[choice]] -= item
                    exact[i] += remaining[i][index[choice]] == 0
                position[i] += 1
        return [Packed(opened[i], position[i], exact[i], failure[i]) for i in range(n)]


# ---- as the in-memory loop's evaluator -----------------------------------------------------
class PackingEvaluate:
    """Episodes of a strategy held in memory (its folder's files), by goal and seed, from a
    Packer per goal and seed set."""

    def __init__(self) -> None:
        self._packers: dict[tuple[str, tuple[int, ...]], Packer] = {}
        self._policies: dict[bytes, tuple[str, Callable[..., Any]]] = {}
        self._tables: dict[tuple[str, str], np.ndarray | None] = {}

    def packer(self, goal: Goal, seeds: Sequence[int]) -> Packer:
        key = (goal.goal_id, tuple(int(s) for s in seeds))
        if key not in self._packers:
            self._packers[key] = Packer(goal, key[1], self._tables)
        return self._packers[key]

    def make_policy(self, files: dict[str, bytes], entry: str) -> tuple[str, Callable[..., Any]]:
        """The strategy's `make_policy`, loaded once per code, and a name for that code."""
        file_name, func_name = entry.split(":")
        code = files[file_name]
        if code not in self._policies:
            name = f"augnes_fastpack_{len(self._policies)}"
            module = types.ModuleType(name)
            exec(compile(code, file_name, "exec"), module.__dict__)  # noqa: S102 - trusted seeds
            self._policies[code] = (name, getattr(module, func_name))
        return self._policies[code]

    def __call__(
        self, source: Any, plan: Sequence[tuple[Goal, Sequence[int], int]]
    ) -> list[Episode]:
        code, make = self.make_policy(source.files, source.manifest.entry)
        params = json.loads(source.files["params.json"])
        out: list[Episode] = []
        for goal, seeds, first in plan:
            if not seeds:
                continue
            if goal.kind != "binpacking":
                raise ValueError(f"goal {goal.goal_id}: the packing evaluator packs bins only")
            for ep in self.packer(goal, seeds).episodes(make, params, code=code):
                out.append(dataclasses.replace(ep, episode=first + ep.episode))
        return out
