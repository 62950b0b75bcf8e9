"""The trusted evaluator: environments and rewards stay here, the strategy acts from a worker.

Episodes of one goal run in lockstep, so one wire round trip serves a whole batch. The worker
never receives a reward. A crash, a hang, or a malformed, non-finite or out-of-space action ends
the affected episodes as classified failures; the evaluation goes on with a fresh worker.
"""

from __future__ import annotations

import contextlib
import logging
import math
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.errors import GoalError, read_text
from bot.goals import Goal
from bot.sandbox import FAILURE_KINDS, UNLOADABLE, Sandbox, Worker, WorkerFailure

if TYPE_CHECKING:
    from bot.workspace import Workspace

log = logging.getLogger(__name__)

BOX_TOLERANCE = 1e-6
LANES = 3  # requests in flight: one lane is stepped while the worker answers the other


@dataclass(frozen=True)
class Episode:
    goal_id: str
    episode: int
    seed: int
    reward: float  # the environment's return; min_reward for a failed episode
    steps: int
    failure: str | None
    duration_s: float
    # what the trusted side measured of the strategy's behaviour (niche descriptors), in
    # [0, 1]; bin packing: the share of bins filled exactly, the mean fill of the bins
    measures: Mapping[str, float] = field(default_factory=dict)


MEASURES = ("exact_fits", "fill")  # every measure an episode may carry


def packing_measures(exact: int, opened: int, total: float, capacity: float) -> dict[str, float]:
    """Bin packing's behaviour: the share of bins filled exactly, and the mean fill."""
    if not opened:
        return {}
    return {
        "exact_fits": round(exact / opened, 6),
        "fill": round(min(1.0, total / (opened * capacity)), 6),
    }


@dataclass
class Transitions:
    """(s, a, s') rows the trusted side observed, per goal."""

    obs: list[np.ndarray] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    next_obs: list[np.ndarray] = field(default_factory=list)
    limit: int | None = None  # stop recording after this many rows

    @property
    def full(self) -> bool:
        return self.limit is not None and len(self.obs) >= self.limit


def action_spec(space: Any) -> dict[str, Any]:
    if hasattr(space, "n"):
        return {"type": "discrete", "n": int(space.n)}
    return {
        "type": "box",
        "low": [float(v) for v in np.ravel(space.low)],
        "high": [float(v) for v in np.ravel(space.high)],
        "shape": list(space.shape),
    }


def check_actions(actions: np.ndarray, spec: dict[str, Any], count: int) -> np.ndarray:
    """Per-row validity of a batch of actions; raises WorkerFailure('malformed') on bad shape."""
    if spec["type"] == "discrete":
        if actions.shape != (count,) or actions.dtype.kind not in "iuf":
            raise WorkerFailure(
                "malformed", f"expected {count} discrete actions, got {actions.shape}"
            )
        values = actions.astype(np.float64)
        ok: np.ndarray = (
            np.isfinite(values)
            & (values == np.round(values))
            & (values >= 0)
            & (values < spec["n"])
        )
        return ok
    width = len(spec["low"])
    if actions.dtype.kind not in "iuf" or actions.size != count * width:
        raise WorkerFailure(
            "malformed", f"expected {count}×{width} continuous actions, got {actions.shape}"
        )
    values = actions.reshape(count, width).astype(np.float64)
    low, high = np.asarray(spec["low"]), np.asarray(spec["high"])
    inside = (values >= low - BOX_TOLERANCE) & (values <= high + BOX_TOLERANCE)
    return bool_rows(np.isfinite(values) & inside)


def bool_rows(matrix: np.ndarray) -> np.ndarray:
    rows: np.ndarray = np.asarray(matrix.all(axis=1), dtype=bool)
    return rows


class EnvPool:
    """Environments are expensive to make and cheap to reset: keep them per goal."""

    def __init__(self) -> None:
        self._envs: dict[str, list[Any]] = {}

    def take(self, goal: Goal, count: int) -> list[Any]:
        import gymnasium

        envs = self._envs.setdefault(goal.goal_id, [])
        while len(envs) < count:
            envs.append(
                gymnasium.make(goal.env_id, max_episode_steps=goal.max_steps, **goal.env_kwargs)
            )
        return envs[:count]

    def close(self) -> None:
        for envs in self._envs.values():
            for env in envs:
                env.close()
        self._envs.clear()


@dataclass
class _Batch:
    """The episodes of one goal that run together."""

    goal: Goal
    seeds: Sequence[int]
    first_index: int
    envs: list[Any]
    spec: dict[str, Any]
    obs: list[np.ndarray]
    returns: list[float]
    steps: list[int]
    failure: list[str | None]
    ended: list[float]
    active: list[int]
    deadline: float

    def fail(self, rows: Sequence[int], kind: str) -> None:
        now = time.perf_counter()
        gone = set(rows) & set(self.active)
        for i in gone:
            self.failure[i], self.ended[i] = kind, now
        self.active = [i for i in self.active if i not in gone]


class Session:
    """One variant under evaluation: a worker kept across goals and stages, restarted after
    a failure. All goals' episodes run in lockstep, one wire round trip per step for all."""

    def __init__(
        self,
        sandbox: Sandbox,
        strategy_dir: Path,
        pool: EnvPool,
        *,
        reply_timeout: float,
        start_timeout: float,
        transitions: dict[str, Transitions] | None = None,
        prestarted: Callable[[], Worker] | None = None,
        models: Callable[[str], Any] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.strategy_dir = strategy_dir
        self.pool = pool
        self.reply_timeout = reply_timeout
        self.start_timeout = start_timeout
        self.transitions = transitions
        self._prestarted = prestarted
        # goal id -> the world model (a `Fitted`) a model-based strategy is handed, or None
        self.models = models
        self.worker: Worker | None = None
        self._unloadable: WorkerFailure | None = None
        self._ready: set[str] = set()
        self.episode_seconds = 0.0
        self.exchange_seconds = 0.0  # bin packing: time in the strategy round trips
        self.last_failure: tuple[str, str] | None = None  # kind and message, for reports
        # told the number of episodes this session has finished, as they finish
        self.progress = progress
        self.episodes_done = 0

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self._drop()

    def _drop(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        self._ready.clear()

    def _worker(self) -> Worker:
        """The running worker, started (or restarted after a failure) when needed. A strategy
        that cannot even load is not started again within this session."""
        if self._unloadable is not None:
            raise self._unloadable
        if self.worker is None:
            try:
                if self._prestarted is not None:
                    factory, self._prestarted = self._prestarted, None
                    self.worker = factory()
                else:
                    self.worker = self.sandbox.start(self.strategy_dir, timeout=self.start_timeout)
            except WorkerFailure as failure:
                if failure.kind in UNLOADABLE:
                    self._unloadable = failure
                raise
        return self.worker

    def run(self, plan: Sequence[tuple[Goal, Sequence[int], int]]) -> list[Episode]:
        """Run one episode per seed for every (goal, seeds, first episode index) in `plan`."""
        stepped = [p for p in plan if p[0].kind == "gymnasium"]
        episodes = self._run_environments(stepped) if stepped else []
        for goal, seeds, first in plan:
            if goal.kind in ("binpacking", "cases", "pytest") and seeds:
                started = time.perf_counter()
                run = {"binpacking": self._pack, "cases": self._cases, "pytest": self._pytest}[
                    goal.kind
                ]
                episodes += run(goal, seeds, first)
                self.episode_seconds += time.perf_counter() - started
                if goal.kind == "binpacking":  # its instances finish together
                    self._episodes_finished(len(seeds))
        return episodes

    def _episodes_finished(self, count: int) -> None:
        if count:
            self.episodes_done += count
            if self.progress is not None:
                self.progress(self.episodes_done)

    def _pytest(self, goal: Goal, seeds: Sequence[int], first: int) -> list[Episode]:
        """The suite's test files, run by pytest inside the worker against the strategy's
        folder; the verdict is read from the JUnit XML report. Weaker than `cases`: the
        code under test runs in the test process and could forge its report."""
        import xml.etree.ElementTree as ET

        folder = Path(goal.source) / goal.tests
        files = {
            p.name: read_text(p, error=GoalError)
            for p in sorted(folder.glob("*.py"))
            if p.is_file()
        }
        out = []
        for i, seed in enumerate(seeds):
            started = time.perf_counter()
            reward, failure, steps = goal.min_reward, None, 0
            try:
                if not files:
                    raise WorkerFailure("load_error", f"{folder}: no test file")
                reply, _ = self._worker().call(
                    {"op": "pytest", "files": files}, timeout=goal.wall_limit_s
                )
                root = ET.fromstring(reply["junit"])
                suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
                total = sum(int(s.get("tests", 0)) for s in suites)
                bad = sum(
                    int(s.get("failures", 0)) + int(s.get("errors", 0)) + int(s.get("skipped", 0))
                    for s in suites
                )
                if total == 0:
                    raise WorkerFailure("malformed", "the report counts no test")
                reward, steps = (total - bad) / total, total
            except WorkerFailure as exc:
                failure = exc.kind
                self.last_failure = (exc.kind, exc.message)
                self._drop()
            except (KeyError, TypeError, ValueError, ET.ParseError) as exc:
                failure = "malformed"
                self.last_failure = ("malformed", str(exc))
            out.append(
                Episode(
                    goal.goal_id,
                    first + i,
                    int(seed),
                    goal.min_reward if failure else reward,
                    steps,
                    failure,
                    round(time.perf_counter() - started, 6),
                )
            )
            self._episodes_finished(1)
        return out

    def _cases(self, goal: Goal, seeds: Sequence[int], first: int) -> list[Episode]:
        """One fold of the goal's cases per episode, every case a call of the strategy's
        policy in the worker; the trusted side compares the outputs."""
        from bot.cases import fold, load_cases, passes

        cases = load_cases(goal)
        spec = {"goal_id": goal.goal_id, "env_id": "cases", "kind": "cases", "obs_dim": -1,
                "action": {"type": "call"}}  # fmt: skip
        failure: list[str | None] = [None] * len(seeds)

        def fail(rows: list[int], kind: str) -> None:
            for i in rows:
                failure[i] = failure[i] or kind

        with contextlib.suppress(WorkerFailure):
            self._worker()
        self._init_goal(goal, spec, fail, lambda: list(range(len(seeds))))
        out = []
        for i, seed in enumerate(seeds):
            started = time.perf_counter()
            chosen = fold(cases, first + i, goal.episodes)
            reward, steps = goal.min_reward, 0
            if failure[i] is None and self.worker is not None and chosen:
                try:
                    reply, _ = self.worker.call(
                        {"op": "call", "goal": goal.goal_id, "inputs": [c.input for c in chosen]},
                        timeout=min(self.reply_timeout * len(chosen), goal.wall_limit_s),
                    )
                    results = reply["results"]
                    if not isinstance(results, list) or len(results) != len(chosen):
                        raise WorkerFailure("malformed", "the reply does not answer every case")
                    good = sum(
                        1
                        for case, r in zip(chosen, results, strict=True)
                        if isinstance(r, dict) and "output" in r and passes(goal, case, r["output"])
                    )
                    seconds = sum(
                        float(r.get("seconds", 0.0)) for r in results if isinstance(r, dict)
                    )
                    reward = good / len(chosen) - goal.speed_weight * seconds / len(chosen)
                    steps = len(chosen)
                except (WorkerFailure, KeyError, TypeError, ValueError) as exc:
                    kind = exc.kind if isinstance(exc, WorkerFailure) else "malformed"
                    self.last_failure = (kind, str(exc))
                    failure[i] = kind
                    self._drop()
            elif failure[i] is None:
                failure[i] = "crash"
            out.append(
                Episode(
                    goal.goal_id,
                    first + i,
                    int(seed),
                    goal.min_reward if failure[i] else reward,
                    steps,
                    failure[i],
                    round(time.perf_counter() - started, 6),
                )
            )
            self._episodes_finished(1)
        return out

    def _run_environments(self, plan: Sequence[tuple[Goal, Sequence[int], int]]) -> list[Episode]:
        if not any(seeds for _, seeds, _ in plan):
            return []
        with contextlib.suppress(WorkerFailure):
            self._worker()  # waiting for a process is not episode time (_init reports failures)
        for goal, seeds, _ in plan:
            self.pool.take(goal, len(seeds))  # nor is making environments (they are reused)
        started = time.perf_counter()
        batches = [self._batch(goal, seeds, first) for goal, seeds, first in plan if seeds]
        for batch in batches:
            self._init(batch)
        for batch in batches:
            batch.deadline = time.perf_counter() + batch.goal.wall_limit_s
        self._lockstep(batches)
        self.episode_seconds += time.perf_counter() - started
        return [episode for batch in batches for episode in self._episodes(batch, started)]

    def _batch(self, goal: Goal, seeds: Sequence[int], first: int) -> _Batch:
        envs = self.pool.take(goal, len(seeds))
        spec = {
            "goal_id": goal.goal_id,
            "env_id": goal.env_id,
            "obs_dim": int(np.prod(envs[0].observation_space.shape)),
            "action": action_spec(envs[0].action_space),
        }
        obs = [
            np.asarray(env.reset(seed=int(seed))[0], dtype=np.float64).ravel()
            for env, seed in zip(envs, seeds, strict=False)
        ]
        n = len(seeds)
        return _Batch(
            goal,
            seeds,
            first,
            envs,
            spec,
            obs,
            [0.0] * n,
            [0] * n,
            [None] * n,
            [0.0] * n,
            list(range(n)),
            0.0,
        )

    def _init(self, batch: _Batch) -> None:
        self._init_goal(batch.goal, batch.spec, batch.fail, lambda: list(batch.active))

    def _init_goal(
        self,
        goal: Goal,
        spec: dict[str, Any],
        fail: Callable[[list[int], str], None],
        rows: Callable[[], list[int]],
    ) -> None:
        goal_id = goal.goal_id
        if goal_id in self._ready:
            return
        try:
            header, payload = self._init_frame(goal.goal_id, spec)
            self._worker().call(header, payload, timeout=self.reply_timeout)
        except WorkerFailure as failure:
            self.last_failure = (failure.kind, failure.message)
            log.info(
                "%s: %s on %s: %s", self.strategy_dir.name, failure.kind, goal_id, failure.message
            )
            fail(rows(), failure.kind)
            if failure.kind in ("timeout", "protocol", *UNLOADABLE) or self.worker is None:
                self._drop()
            return
        self._ready.add(goal_id)

    def _init_frame(self, goal_id: str, base: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        """The goal's description, with its world model's arrays when the strategy uses one."""
        fitted = self.models(goal_id) if self.models is not None else None
        if fitted is None:
            return {"op": "init", "spec": base}, b""
        names = sorted(fitted.arrays)
        arrays = [np.ascontiguousarray(fitted.arrays[n], dtype=np.float32) for n in names]
        spec = {
            **base,
            "world_model": {
                "hidden_dim": fitted.hidden_dim,
                "layers": fitted.layers,
                "actions": fitted.actions,
            },
        }
        layout = [
            {"name": n, "dtype": a.dtype.str, "shape": list(a.shape)}
            for n, a in zip(names, arrays, strict=True)
        ]
        return {"op": "init", "spec": spec, "arrays": layout}, b"".join(a.tobytes() for a in arrays)

    def _lockstep(self, batches: list[_Batch]) -> None:
        """Step every episode until all have ended, with LANES requests in flight.

        The episodes are split into lanes (rows of every goal, by index modulo LANES). While the
        worker computes one lane's actions, the bot steps the other lane's environments, so
        the wire's round-trip latency hides behind useful work instead of adding to it."""
        inflight: deque[list[tuple[_Batch, list[int]]]] = deque()
        for lane in range(LANES):
            self._request(batches, lane, inflight)
        while inflight:
            sent = inflight.popleft()
            lane = sent[0][1][0] % LANES
            assert self.worker is not None
            try:
                reply, data = self.worker.receive(timeout=self.reply_timeout)
                parts = _parts(reply, len(sent), "goal")
            except (WorkerFailure, KeyError, TypeError) as exc:
                kind = exc.kind if isinstance(exc, WorkerFailure) else "malformed"
                self.last_failure = (kind, str(exc))
                for b in batches:
                    b.fail(list(b.active), kind)
                self._drop()
                return
            offset = 0
            running = sum(len(b.active) for b in batches)
            for (b, rows), part in zip(sent, parts, strict=True):
                offset = self._apply(b, rows, part, data, offset)
            self._episodes_finished(running - sum(len(b.active) for b in batches))
            self._request(batches, lane, inflight)

    def _request(
        self, batches: list[_Batch], lane: int, inflight: deque[list[tuple[_Batch, list[int]]]]
    ) -> None:
        """Send one lane's observations, if any of its episodes is still running."""
        now = time.perf_counter()
        for b in batches:
            if b.active and now > b.deadline:
                b.fail(list(b.active), "timeout")
        sent = [(b, rows) for b in batches if (rows := [i for i in b.active if i % LANES == lane])]
        if not sent:
            return
        if self.worker is None:
            for b, rows in sent:
                b.fail(rows, "crash")
            return
        obs = [np.stack([b.obs[i] for i in rows]) for b, rows in sent]
        header = {
            "op": "act",
            "parts": [
                {"goal": b.goal.goal_id, "shape": list(o.shape)}
                for (b, _), o in zip(sent, obs, strict=True)
            ],
        }
        try:
            self.worker.send(header, b"".join(o.tobytes() for o in obs), timeout=self.reply_timeout)
        except WorkerFailure as failure:
            self.last_failure = (failure.kind, failure.message)
            for b in batches:
                b.fail(list(b.active), failure.kind)
            self._drop()
            inflight.clear()  # the requests already sent will never be answered
            return
        inflight.append(sent)

    def _apply(self, b: _Batch, rows: list[int], part: Any, data: bytes, offset: int) -> int:
        """Check one goal's actions for `rows` and step those environments. Returns the next
        payload offset."""
        rows = [i for i in rows if i in b.active]  # a deadline may have failed some meanwhile
        if not isinstance(part, dict) or "error" in part:
            kind = str(part.get("error", "malformed")) if isinstance(part, dict) else "malformed"
            b.fail(rows, kind if kind in FAILURE_KINDS else "malformed")
            return offset
        try:
            size = int(part["bytes"])
        except (KeyError, TypeError, ValueError):
            b.fail(rows, "malformed")
            return len(data)  # the rest of the payload cannot be located any more
        try:
            actions = np.frombuffer(data[offset : offset + size], dtype=np.dtype(part["dtype"]))
            actions = actions.reshape(part["shape"])
            valid = check_actions(actions, b.spec["action"], int(part["shape"][0]))
        except WorkerFailure as failure:
            b.fail(rows, failure.kind)
            return offset + size
        except (KeyError, TypeError, ValueError, IndexError):
            b.fail(rows, "malformed")
            return offset + size
        if len(valid) != len(rows):  # rows failed by a deadline while the reply was on its way
            return offset + size
        discrete = b.spec["action"]["type"] == "discrete"
        chosen = (
            np.where(valid, actions, 0).astype(np.int64)  # invalid rows are never stepped
            if discrete
            else actions.reshape(len(rows), -1).astype(np.float32)
        )
        record = self.transitions
        log_to = record.setdefault(b.goal.goal_id, Transitions()) if record is not None else None
        if log_to is not None and log_to.full:
            log_to = None
        ended, bad = [], []
        for row, i in enumerate(rows):
            if not valid[row]:
                bad.append(i)
                continue
            action = chosen[row]
            next_obs, reward, terminated, truncated, _ = b.envs[i].step(action)
            next_obs = np.asarray(next_obs, dtype=np.float64).ravel()
            if log_to is not None:
                log_to.obs.append(b.obs[i])
                log_to.actions.append(np.atleast_1d(np.asarray(action, dtype=np.float64)))
                log_to.next_obs.append(next_obs)
            b.returns[i] += float(reward)
            b.steps[i] += 1
            b.obs[i] = next_obs
            if terminated or truncated:
                b.ended[i] = time.perf_counter()
                ended.append(i)
        if ended:
            done = set(ended)
            b.active = [i for i in b.active if i not in done]
        if bad:
            b.fail(bad, "invalid_action")
        return offset + size

    def _pack(self, goal: Goal, seeds: Sequence[int], first: int) -> list[Episode]:
        """Online bin packing, every instance in lockstep: per item, one message carries each
        unfinished instance's item and the remaining capacities of the bins it fits — the
        open ones in order, then one empty bin — as a (1, 1 + k) float64 row; the strategy
        answers k priorities and the trusted side puts the item in the best bin (a new one
        when the empty bin wins) and counts bins. The instances are split into two lanes
        with a message in flight for each, so the worker scores one lane's bins while this
        side places the other lane's items and builds its next message (see pack_lanes)."""
        packing = _Packing(goal, seeds)
        with contextlib.suppress(WorkerFailure):
            self._worker()
        self._init_goal(goal, packing_spec(goal), packing.fail, packing.active)
        deadline = packing.started + goal.wall_limit_s
        inflight: deque[tuple[list[int], list[np.ndarray]]] = deque()
        lanes = pack_lanes(len(seeds))

        def request(lane: int) -> None:
            rows = [i for i in packing.active() if i % lanes == lane]
            if not rows:
                return
            if time.perf_counter() > deadline:
                packing.fail(rows, "timeout")
                return
            if self.worker is None:
                packing.fail(rows, "crash")
                return
            fits, obs = packing.observations(rows)
            header = {
                "op": "act",
                "parts": [{"goal": goal.goal_id, "shape": [1, len(o)]} for o in obs],
            }
            try:
                self.worker.send(
                    header, b"".join(o.tobytes() for o in obs), timeout=self.reply_timeout
                )
            except WorkerFailure as failure:
                self.last_failure = (failure.kind, failure.message)
                packing.fail(packing.active(), failure.kind)
                self._drop()
                inflight.clear()  # the requests already sent will never be answered
                return
            inflight.append((rows, fits))

        for lane in range(lanes):
            request(lane)
        while inflight:
            rows, fits = inflight.popleft()
            sent = time.perf_counter()
            assert self.worker is not None
            try:
                reply, data = self.worker.receive(timeout=self.reply_timeout)
                parts = _parts(reply, len(rows), "instance")
            except (WorkerFailure, KeyError, TypeError) as exc:
                kind = exc.kind if isinstance(exc, WorkerFailure) else "malformed"
                self.last_failure = (kind, str(exc))
                packing.fail(packing.active(), kind)
                self._drop()
                break
            self.exchange_seconds += time.perf_counter() - sent
            packing.place(rows, fits, parts, data)
            request(rows[0] % lanes)
        return packing.episodes(first)

    def _episodes(self, b: _Batch, started: float) -> list[Episode]:
        return [
            Episode(
                b.goal.goal_id,
                b.first_index + i,
                int(b.seeds[i]),
                b.goal.min_reward if b.failure[i] else b.returns[i],
                b.steps[i],
                b.failure[i],
                round(max(0.0, (b.ended[i] or time.perf_counter()) - started), 6),
            )
            for i in range(len(b.seeds))
        ]


@contextlib.contextmanager
def strategy_session(
    ws: Workspace,
    sandbox: Sandbox,
    commit: str,
    strategy: str,
    *,
    pool: EnvPool | None = None,
    models: Callable[[str], Any] | None = None,
    transitions: dict[str, Transitions] | None = None,
) -> Iterator[Session]:
    """`strategy` as it is at `commit`, exported to a temporary folder and run by a worker
    of `sandbox` with the workspace's evaluation settings (an own pool unless given)."""
    with tempfile.TemporaryDirectory(prefix="augnes-session-") as tmp:
        where = Path(tmp) / strategy
        ws.repo.export_dir(commit, ws.strategy_dir(strategy), where)
        with folder_session(
            ws, sandbox, where, pool=pool, models=models, transitions=transitions
        ) as session:
            yield session


@contextlib.contextmanager
def folder_session(
    ws: Workspace,
    sandbox: Sandbox,
    where: Path,
    *,
    pool: EnvPool | None = None,
    models: Callable[[str], Any] | None = None,
    transitions: dict[str, Transitions] | None = None,
) -> Iterator[Session]:
    """The strategy folder `where` (a copy the worker may see) run by a worker of `sandbox`
    with the workspace's evaluation settings (an own pool unless given)."""
    own = pool is None
    envs = pool if pool is not None else EnvPool()
    ev = ws.config.evaluation
    try:
        with Session(
            sandbox,
            where,
            envs,
            reply_timeout=ev.reply_timeout_s,
            start_timeout=ev.start_timeout_s,
            models=models,
            transitions=transitions,
        ) as session:
            yield session
    finally:
        if own:
            envs.close()


def packing_spec(goal: Goal) -> dict[str, Any]:
    """The goal's description a bin-packing strategy's `make_policy` receives."""
    return {
        "goal_id": goal.goal_id,
        "env_id": "binpacking",
        "kind": "binpacking",
        "capacity": goal.capacity,
        "obs_dim": -1,
        "action": {"type": "priority"},
    }


def pack_lanes(instances: int) -> int:
    """Bin-packing messages in flight: two lanes, one placed while the other is scored, once
    there are enough instances that a message's own cost does not dominate."""
    return 2 if instances >= 8 else 1


class _Packing:
    """The trusted side of one goal's bin packing: the instances, their bins and where each
    stands."""

    def __init__(self, goal: Goal, seeds: Sequence[int]) -> None:
        self.goal = goal
        self.seeds = seeds
        self.capacity = float(goal.capacity)
        self.sizes = [packing_instance(goal, seed) for seed in seeds]
        n = len(seeds)
        self.remaining = [np.empty(goal.items, dtype=np.float64) for _ in range(n)]
        self.opened = [0] * n
        self.exact = [0] * n  # bins an item filled to the brim
        self.position = [0] * n
        self.failure: list[str | None] = [None] * n
        self.ended = [0.0] * n
        self.started = time.perf_counter()

    def fail(self, rows: list[int], kind: str) -> None:
        for i in rows:
            if self.failure[i] is None and self.position[i] < self.goal.items:
                self.failure[i], self.ended[i] = kind, time.perf_counter()

    def active(self) -> list[int]:
        return [
            i
            for i in range(len(self.seeds))
            if self.failure[i] is None and self.position[i] < self.goal.items
        ]

    def observations(self, rows: list[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per row, the open bins its next item fits and the row the strategy sees."""
        fits, obs = [], []
        for i in rows:
            item = float(self.sizes[i][self.position[i]])
            caps = self.remaining[i][: self.opened[i]]
            index = np.flatnonzero(caps >= item)
            fits.append(index)
            obs.append(np.concatenate(([item], caps[index], [self.capacity])))
        return fits, obs

    def place(self, rows: list[int], fits: list[np.ndarray], parts: list[Any], data: bytes) -> None:
        """Each row's item in the bin its priorities chose, or the row's failure."""
        offset = 0
        for i, index, part in zip(rows, fits, parts, strict=True):
            if self.failure[i] is not None:  # a deadline failed it while the reply travelled
                continue
            if not isinstance(part, dict) or "error" in part:
                kind = str(part.get("error", "malformed")) if isinstance(part, dict) else ""
                self.fail([i], kind if kind in FAILURE_KINDS else "malformed")
                continue
            try:
                size = int(part["bytes"])
                scores = np.frombuffer(
                    data[offset : offset + size], dtype=np.dtype(part["dtype"])
                ).astype(np.float64)
            except (KeyError, TypeError, ValueError):
                self.fail([i], "malformed")
                offset = len(data)
                continue
            offset += size
            if scores.size != len(index) + 1 or not np.isfinite(scores).all():
                self.fail([i], "invalid_action")
                continue
            choice = int(np.argmax(scores))
            item = float(self.sizes[i][self.position[i]])
            if choice == len(index):
                self.remaining[i][self.opened[i]] = self.capacity - item
                self.opened[i] += 1
            else:
                self.remaining[i][index[choice]] -= item
                self.exact[i] += self.remaining[i][index[choice]] == 0
            self.position[i] += 1
            if self.position[i] == self.goal.items:
                self.ended[i] = time.perf_counter()

    def episodes(self, first: int) -> list[Episode]:
        out = []
        for i, seed in enumerate(self.seeds):
            bound = math.ceil(float(self.sizes[i].sum()) / self.capacity)
            excess = 100.0 * (self.opened[i] - bound) / bound
            out.append(
                Episode(
                    self.goal.goal_id,
                    first + i,
                    int(seed),
                    self.goal.min_reward if self.failure[i] else -excess,
                    self.position[i],
                    self.failure[i],
                    round(max(0.0, (self.ended[i] or time.perf_counter()) - self.started), 6),
                    {}
                    if self.failure[i]
                    else packing_measures(
                        self.exact[i],
                        self.opened[i],
                        float(self.sizes[i].sum()),
                        self.capacity,
                    ),
                )
            )
        return out


def packing_instance(goal: Goal, seed: int) -> np.ndarray:
    """An instance's item sizes: Weibull(shape, scale), rounded, clipped to 1…capacity."""
    rng = np.random.default_rng(seed)
    sizes = np.round(rng.weibull(goal.weibull_shape, goal.items) * goal.weibull_scale)
    clipped: np.ndarray = np.clip(sizes, 1, goal.capacity)
    return clipped


def _parts(reply: dict[str, Any], count: int, what: str) -> list[Any]:
    """An `act` reply's parts, one per part sent, or WorkerFailure('malformed')."""
    parts = reply["parts"]
    if not isinstance(parts, list) or len(parts) != count:
        raise WorkerFailure("malformed", f"the reply does not answer every {what}")
    return parts
