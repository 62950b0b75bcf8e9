"""One candidate's evaluation as a self-contained job (its plan, its early-stop rule), run in
the loop's process or in one of `evaluation.workers` worker processes.

The trusted side of an evaluation — stepping the environments, scoring — is Python, so
threads would share one interpreter lock; worker processes evaluate candidates truly at
once, each with its own sandbox and environments. A job's result does not depend on where
it ran, and the loop records results in plan order, so a run with two workers writes the
same judgments as a run with one.
"""

from __future__ import annotations

import atexit
import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.evaluator import EnvPool, Episode, Session, Transitions
from bot.goals import Goal
from bot.sandbox import Sandbox, Worker, open_sandbox
from bot.scoring import reward_norm

if TYPE_CHECKING:
    from bot.config import EvaluationConfig

Plan = tuple[tuple[Goal, tuple[int, ...], int], ...]  # (goal, episode seeds, first episode)


MAX_REASON = 2000  # characters of a failure's reason kept and shown


@dataclass(frozen=True)
class Job:
    candidate_id: str
    where: str  # the strategy's exported folder
    first: Plan  # stage one: everything when there is no early stop
    rest: Plan  # stage two, run unless stage one trails the elite
    elite: Mapping[tuple[str, int], float]  # the elite's reward_norm by (goal, seed)
    margin: float  # stage one stops a child that trails the elite by more than this
    reply_timeout: float
    start_timeout: float
    transitions: int | None = None  # rows to record per goal (worker processes only)
    # the first parent's reward by (goal, seed): a child whose stage one gives exactly these
    # is a clone of it, stopped there (empty: no clone check)
    parent: Mapping[tuple[str, int], float] = field(default_factory=dict)
    # where a worker process tells its episodes as they finish: (candidate, done) on a
    # queue of the loop's (None: nowhere)
    progress: Any = None


@dataclass
class Outcome:
    episodes: list[Episode]
    early: bool  # stopped after stage one: it trailed the elite, or it is a clone
    seconds: float  # inside episodes
    transitions: dict[str, Transitions] | None = None
    clone: bool = False  # stage one equalled its parent's, episode for episode
    # why an episode failed, as the strategy's worker said it (kind: its last lines)
    failure: str = ""


def is_clone(episodes: Sequence[Episode], parent: Mapping[tuple[str, int], float]) -> bool:
    """Every episode succeeded with exactly the parent's reward on the same goal and seed (as
    judgments record rewards: to six decimals)."""
    return bool(episodes) and all(
        ep.failure is None and parent.get((ep.goal_id, ep.seed)) == round(ep.reward, 6)
        for ep in episodes
    )


def trails(
    episodes: Sequence[Episode], elite: Mapping[tuple[str, int], float], margin: float, plan: Plan
) -> bool:
    """The early-stop rule: the paired mean reward_norm difference to the elite, over the
    episodes both faced, is below -margin."""
    goals = {goal.goal_id: goal for goal, _, _ in plan}
    diffs = [
        reward_norm(
            ep.reward,
            min_reward=goals[ep.goal_id].min_reward,
            optimal_reward=goals[ep.goal_id].optimal_reward,
        )
        - elite[(ep.goal_id, ep.seed)]
        for ep in episodes
        if (ep.goal_id, ep.seed) in elite
    ]
    return bool(diffs) and sum(diffs) / len(diffs) < -margin


def episodes_of(job: Job) -> int:
    """How many episodes the job runs when no early stop cuts it short."""
    return sum(len(seeds) for plan in (job.first, job.rest) for _, seeds, _ in plan)


def run_stages(job: Job, run: Callable[[Plan], list[Episode]]) -> tuple[list[Episode], str | None]:
    """A job's episodes by `run`, stage by stage: stage one, then the rest unless stage one
    is a clone of the parent's or trails the elite. Returns the episodes and why it stopped
    after stage one ("clone", "early") or None."""
    episodes = run(job.first)
    if not job.rest:  # one stage: nothing left to save
        return episodes, None
    if job.parent and is_clone(episodes, job.parent):
        return episodes, "clone"
    if job.elite and trails(episodes, job.elite, job.margin, job.first):
        return episodes, "early"
    return episodes + run(job.rest), None


def run_job(
    job: Job,
    sandbox: Sandbox,
    pool: EnvPool,
    *,
    prestarted: Callable[[], Worker] | None = None,
    models: Callable[[str], Any] | None = None,
    transitions: dict[str, Transitions] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Outcome:
    with Session(
        sandbox,
        Path(job.where),
        pool,
        reply_timeout=job.reply_timeout,
        start_timeout=job.start_timeout,
        prestarted=prestarted,
        models=models,
        transitions=transitions,
        progress=progress,
    ) as session:
        episodes, stop = run_stages(job, session.run)
        kind, message = session.last_failure or ("", "")
        return Outcome(
            episodes,
            stop is not None,
            session.episode_seconds,
            transitions,
            stop == "clone",
            failure=failure_reason(kind, message),
        )


def failure_reason(kind: str, message: str) -> str:
    """`kind: message` bounded to its last 2 kB (a traceback's last frames), or ""."""
    if not kind:
        return ""
    text = f"{kind}: {message.strip()}" if message.strip() else kind
    return text if len(text) <= MAX_REASON else "…" + text[-(MAX_REASON - 1) :]


def merge_transitions(into: dict[str, Transitions], rows: Mapping[str, Transitions]) -> None:
    """A worker process's rows added to the generation's, up to each goal's limit."""
    for goal, got in rows.items():
        dest = into.setdefault(goal, Transitions(limit=got.limit))
        room = len(got.obs) if dest.limit is None else max(0, dest.limit - len(dest.obs))
        dest.obs += got.obs[:room]
        dest.actions += got.actions[:room]
        dest.next_obs += got.next_obs[:room]


# ---- worker processes ----------------------------------------------------------------------
_here: tuple[Sandbox, EnvPool] | None = None


def _start(evaluation: EvaluationConfig) -> None:
    global _here
    _here = (open_sandbox(evaluation), EnvPool())
    atexit.register(_stop)


def _stop() -> None:
    if _here is not None:
        _here[1].close()
        _here[0].close()


def _run_here(job: Job) -> Outcome:
    assert _here is not None, "a worker process runs jobs only after _start"
    sandbox, pool = _here
    rows = None
    if job.transitions is not None:
        rows = {goal.goal_id: Transitions(limit=job.transitions) for goal, _, _ in job.first}
    told = None
    if job.progress is not None:
        queue, cid = job.progress, job.candidate_id

        def told(done: int) -> None:
            queue.put((cid, done))

    return run_job(job, sandbox, pool, transitions=rows, progress=told)


class Workers:
    """`count` worker processes, started on first use, each with its own sandbox and
    environments, kept for the whole run."""

    def __init__(self, count: int, evaluation: EvaluationConfig) -> None:
        self.count = count
        self.evaluation = evaluation
        self._pool: ProcessPoolExecutor | None = None
        self._manager: Any = None
        self.queue: Any = None  # the manager's queue, once asked for

    def progress_queue(self) -> Any:
        """A queue the worker processes tell their episodes on (a manager's, shared)."""
        if self._manager is None:
            self._manager = multiprocessing.get_context("spawn").Manager()
            self.queue = self._manager.Queue()
        return self.queue

    def submit(self, job: Job) -> Future[Outcome]:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.count,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start,
                initargs=(self.evaluation,),
            )
        return self._pool.submit(_run_here, job)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._manager is not None:
            self._manager.shutdown()
            self._manager = None
