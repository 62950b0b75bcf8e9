"""Evaluate a generation's variants on the suite — one at a time with the next worker started
ahead, or `evaluation.workers` at once in worker processes — and record their judgments in
plan order as they finish."""

from __future__ import annotations

import logging
import queue
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.archive import Archive
from bot.cells import variant_cell
from bot.evaluator import Episode, strategy_session
from bot.goals import Goal, Suite
from bot.heldout import heldout_plan
from bot.journal import Entry, Journal
from bot.learning import Learning
from bot.lineage_files import append_jsonl
from bot.loop_state import Event, _now
from bot.parallel import Job, Outcome, Workers, episodes_of, merge_transitions, run_job
from bot.records import Judgment
from bot.sandbox import NoSandbox, Worker, WorkerFailure
from bot.scoring import SUCCESS_NORM, benchmark_score, regret, reward_norm

if TYPE_CHECKING:
    from bot.config import EvaluationConfig

log = logging.getLogger(__name__)

PROGRESS_EVERY = 0.25  # seconds between progress events of one candidate


class Evaluating(Learning):
    _workers: Workers | None = None  # worker processes, when evaluation.workers > 1

    # ---- evaluate --------------------------------------------------------------------------
    def _evaluate(self, journal: Journal) -> None:
        self._evaluate_all(journal)
        # strategies on main the archive did not know become their niche's elite as they are
        self._heldout(journal, [e for e in journal.entries if e.baseline and e.evaluated])

    def _evaluate_all(self, journal: Journal) -> None:
        todo = [e for e in journal.entries if not e.evaluated]
        if not todo:
            return
        archive = self._archive(journal)
        self.models = self._model_store(journal)
        if self.cfg.evaluation.workers > 1 and len(todo) > 1:
            self._evaluate_at_once(journal, todo, archive)
            return
        done = len(journal.entries) - len(todo)
        with (
            ExitStack() as stack,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="augnes-prestart") as starter,
        ):
            folders = {}

            def prestart(e: Entry) -> Future[Worker]:
                folders[e.candidate_id] = where = self._export(e, stack)
                return starter.submit(
                    self.sandbox.start, where, timeout=self.cfg.evaluation.start_timeout_s
                )

            upcoming = prestart(todo[0])
            stack.callback(_discard, starter, lambda: upcoming)
            for n, e in enumerate(todo):
                current = upcoming
                if n + 1 < len(todo):  # start the next worker while this one is evaluated
                    upcoming = prestart(todo[n + 1])
                self._started(journal, e)
                job = self._job(e, archive, folders[e.candidate_id])
                outcome = run_job(
                    job,
                    self.sandbox,
                    self.pool,
                    prestarted=_waiting_for(e, current),
                    models=self._feed(e),
                    transitions=self._observing(),
                    progress=self._progress(journal, e, episodes_of(job)),
                )
                done += 1
                self._finished(journal, e, outcome, archive, done)

    def _evaluate_at_once(self, journal: Journal, todo: list[Entry], archive: Archive) -> None:
        """`evaluation.workers` candidates at once in worker processes; results recorded in
        plan order. Children wait for this generation's baselines (their elites). A
        candidate that is handed a world model runs in this process, on a thread beside
        the worker processes."""
        if self._workers is None:
            self._workers = Workers(self.cfg.evaluation.workers, self.cfg.evaluation)
        workers = self._workers
        done = len(journal.entries) - len(todo)
        baselines = {e.candidate_id for e in todo if e.baseline}  # not yet recorded
        waiting = list(todo)
        running: dict[str, Future[Outcome]] = {}  # submitted, not yet recorded
        with (
            ExitStack() as stack,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="augnes-models") as here,
        ):
            inline: set[str] = set()  # candidates on this process's thread
            told: dict[str, Callable[[int], None]] = {}  # each running candidate's progress
            here_told: queue.SimpleQueue[tuple[str, int]] = queue.SimpleQueue()
            away_told = workers.progress_queue()

            def drain() -> None:
                """Progress the candidates told since, on this thread (the reporter's)."""
                for source in (here_told, away_told):
                    while True:
                        try:
                            cid, done = source.get_nowait()
                        except queue.Empty:
                            break
                        if cid in told:
                            told[cid](done)

            def busy() -> int:
                return sum(not f.done() for c, f in running.items() if c not in inline)

            def top_up() -> None:
                """Start candidates while a worker is free (a finished candidate waiting for
                its turn to be recorded does not hold one)."""
                while waiting and busy() < workers.count:
                    nxt = waiting[0]
                    if not nxt.baseline and any(cid in running for cid in baselines):
                        return
                    waiting.pop(0)
                    self._started(journal, nxt)
                    cid = nxt.candidate_id
                    job = self._job(nxt, archive, self._export(nxt, stack))
                    told[cid] = self._progress(journal, nxt, episodes_of(job))
                    models = self._feed(nxt)
                    if models is not None:  # in this process, on a thread of its own
                        inline.add(cid)
                        running[cid] = here.submit(
                            run_job,
                            job,
                            self.sandbox,
                            self.pool,
                            models=models,
                            progress=partial(_tell, here_told, cid),
                        )
                        continue
                    if self._observing() is not None:
                        job = replace(job, transitions=self.cfg.world_model.transitions)
                    running[cid] = workers.submit(replace(job, progress=away_told))

            for e in todo:
                top_up()
                mine = running[e.candidate_id]
                while not mine.done():
                    wait(
                        [f for f in running.values() if not f.done()],
                        timeout=PROGRESS_EVERY,
                        return_when=FIRST_COMPLETED,
                    )
                    drain()
                    top_up()
                drain()
                told.pop(e.candidate_id, None)
                outcome = running.pop(e.candidate_id).result()
                if outcome.transitions is not None and (observed := self._observing()) is not None:
                    merge_transitions(observed, outcome.transitions)
                done += 1
                self._finished(journal, e, outcome, archive, done)
                baselines.discard(e.candidate_id)

    def _heldout(self, journal: Journal, entries: Sequence[Entry]) -> None:
        """New elites on the held-out seeds: every episode, no early stop, recorded apart
        (lineage/heldout.jsonl) so that no selection ever reads them."""
        if not self.cfg.evaluation.heldout:
            return
        known = {j.variant: j for j in self.ws.heldout(journal.base)}
        todo = [e for e in entries if e.commit and e.heldout is None]
        if not todo:
            return
        archive = self._archive(journal)
        self.models = self._model_store(journal)
        for e in todo:
            if e.candidate_id in known:
                e.heldout = known[e.candidate_id].benchmark_score
                continue
            episodes, seconds = self._heldout_episodes(e)
            journal.heldout_s += seconds
            if not episodes:
                self.emit(
                    Event(
                        "problem",
                        journal.generation,
                        e.candidate_id,
                        "no held-out score: its evaluation artifact carries no held-out "
                        "episodes (the evaluation job writes them while evaluation.heldout "
                        "is on)",
                        operator=e.operator,
                    )
                )
                continue
            judgments = self._judgments(e, episodes, archive, journal.generation)
            append_jsonl(self.ws.pending_heldout_path, judgments)
            e.heldout = judgments[0].benchmark_score if judgments else 0.0
            inside = max(
                (j.benchmark_score for j in archive.by_variant().get(e.candidate_id, [])),
                default=0.0,
            )
            self.emit(
                Event(
                    "heldout",
                    journal.generation,
                    e.candidate_id,
                    f"held-out benchmark_score {e.heldout:.4f} on {len(episodes)} episodes "
                    f"(in-sample {inside:.4f})",
                    operator=e.operator,
                )
            )
        self._save(journal)

    def _heldout_episodes(self, e: Entry) -> tuple[list[Episode], float]:
        """The held-out episodes an evaluation job brought for `e`, else run here now, and
        the seconds spent inside them."""
        if e.candidate_id in self.heldout_given:
            episodes = self.heldout_given[e.candidate_id]
            return episodes, sum(ep.duration_s for ep in episodes)
        if isinstance(self.sandbox, NoSandbox):  # a job that runs no strategy code
            return [], 0.0
        with strategy_session(
            self.ws, self.sandbox, e.commit or "", e.strategy, pool=self.pool, models=self._feed(e)
        ) as session:
            episodes = session.run(heldout_plan(self.ws.suite, self._goals(e)))
            return episodes, session.episode_seconds

    def _export(self, e: Entry, stack: ExitStack) -> Path:
        """The candidate's strategy folder, exported to a temporary folder of the stack's."""
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="augnes-eval-")))
        where = tmp / e.strategy
        self.repo.export_dir(e.commit or "", self.ws.strategy_dir(e.strategy), where)
        return where

    def _started(self, journal: Journal, e: Entry) -> None:
        self.emit(
            Event(
                "evaluating",
                journal.generation,
                e.candidate_id,
                e.summary,
                len(journal.entries),
                operator=e.operator,
            )
        )

    def _progress(self, journal: Journal, e: Entry, total: int) -> Callable[[int], None]:
        """What the session tells as episodes finish: a `progress` event, at most every
        PROGRESS_EVERY seconds and when the last one is done."""
        last = [0.0]

        def told(done: int) -> None:
            now = time.monotonic()
            if done < total and now - last[0] < PROGRESS_EVERY:
                return
            last[0] = now
            self.emit(
                Event(
                    "progress",
                    journal.generation,
                    e.candidate_id,
                    e.summary,
                    total,
                    operator=e.operator,
                    done=done,
                )
            )

        return told

    def _finished(
        self, journal: Journal, e: Entry, outcome: Outcome, archive: Archive, done: int
    ) -> None:
        e.clone = outcome.clone
        e.failure = outcome.failure
        self._record(journal, e, outcome.episodes, outcome.early, outcome.seconds, archive)
        if outcome.failure:
            self.emit(
                Event(
                    "failure",
                    journal.generation,
                    e.candidate_id,
                    outcome.failure,
                    operator=e.operator,
                )
            )
        bench = max(
            (j.benchmark_score for j in archive.by_variant().get(e.candidate_id, [])),
            default=0.0,
        )
        self.emit(
            Event(
                "evaluated",
                journal.generation,
                e.candidate_id,
                f"benchmark_score {bench:.3f}" + (" (early stop)" if outcome.early else ""),
                done,
                operator=e.operator,
                seconds=round(outcome.seconds, 3),
            )
        )

    def _record(
        self,
        journal: Journal,
        e: Entry,
        episodes: list[Episode],
        early: bool,
        seconds: float,
        archive: Archive,
    ) -> None:
        fresh = archive.add_judgments(self._judgments(e, episodes, archive, journal.generation))
        if e.candidate_id in archive.meta:
            src = self.ws.read_strategy(e.commit or "", e.strategy)
            cell = variant_cell(
                archive.by_variant().get(e.candidate_id, []),
                src.manifest,
                src.params,
                self.ws.suite.descriptors,
            )
            archive.update(
                e.candidate_id,
                early_stopped=early,
                clone=e.clone and early,
                cell=cell,
                failure=e.failure,
            )
            e.cell = cell
        append_jsonl(self.ws.pending_path, fresh)
        if e.pr is not None:
            self.ws.forge.set_status(
                e.pr,
                context="augnes/benchmark",
                sha=e.commit or "",
                state="success",
                description="benchmarked",
            )
            self.ws.forge.set_labels(e.pr, ["augnes", "augnes:benchmarked"], transient=True)
        e.evaluated, e.early_stopped, e.episode_s = True, early, seconds
        if e.baseline:
            archive.elites[e.strategy] = e.candidate_id
        self._save(journal)

    def _job(self, e: Entry, archive: Archive, where: Path) -> Job:
        return plan_job(e, archive, self.ws.suite, self._goals(e), self.cfg.evaluation, where)

    def _goals(self, e: Entry) -> tuple[Goal, ...]:
        """The goals of the suites the candidate's strategy declares."""
        return self.ws.goals_for(self.ws.read_strategy(e.commit or "", e.strategy).manifest)

    def _feed(self, e: Entry) -> Callable[[str], Any] | None:
        """The world models a model-based strategy is handed (None for the others)."""
        if self.models is None:
            return None
        src = self.ws.read_strategy(e.commit or "", e.strategy)
        return self.models.feed(src.manifest.capacity(src.params))

    def _judgments(
        self, e: Entry, episodes: Sequence[Episode], archive: Archive, g: int
    ) -> list[Judgment]:
        return judgments_of(
            e,
            episodes,
            archive,
            suite=self.ws.suite,
            goal_weights=self.goal_weights,
            goals=self._goals(e),
            generation=g,
            run_id=self.run_id,
            window=self.cfg.selection.stats_window,
        )


def plan_job(
    e: Entry,
    archive: Archive,
    suite: Suite,
    goals: Sequence[Goal],
    ev: EvaluationConfig,
    where: Path,
) -> Job:
    """The candidate's evaluation plan: a rerun faces only the episodes it has not faced,
    with no early stop; a child faces stage one, then the rest unless it trails its
    elite; a baseline (no elite to trail) faces everything at once."""
    elite = archive.elite_for(e.strategy, e.parents)
    elite_judgments = archive.by_variant().get(elite, []) if elite and not e.baseline else []
    split = ev.first_stage_episodes if elite_judgments else 0
    if e.rerun:
        done = {(j.goal_id, j.seed) for j in archive.by_variant().get(e.candidate_id, [])}
        first: list[tuple[Goal, tuple[int, ...], int]] = []
        for g in goals:
            seeds = suite.seeds(g)
            start = next((i for i, s in enumerate(seeds) if (g.goal_id, s) not in done), len(seeds))
            first.append((g, seeds[start:], start))
        rest: list[tuple[Goal, tuple[int, ...], int]] = []
        elite_judgments = []
    else:
        first = [(g, suite.seeds(g)[: split or None], 0) for g in goals]
        rest = [(g, suite.seeds(g)[split:], split) for g in goals] if split else []
    parent = archive.by_variant().get(e.parents[0], []) if e.parents and rest else []
    return Job(
        candidate_id=e.candidate_id,
        where=str(where),
        first=tuple(first),
        rest=tuple(rest),
        elite={(j.goal_id, j.seed): j.reward_norm for j in elite_judgments},
        margin=ev.early_stop_margin,
        reply_timeout=ev.reply_timeout_s,
        start_timeout=ev.start_timeout_s,
        # a person's commit is never stopped for acting like its parent
        parent={}
        if e.operator == "human"
        else {(j.goal_id, j.seed): j.reward for j in parent if j.failure is None},
    )


def judgments_of(
    e: Entry,
    episodes: Sequence[Episode],
    archive: Archive,
    *,
    suite: Suite,
    goal_weights: Mapping[str, float],
    goals: Sequence[Goal],
    generation: int,
    run_id: str,
    window: int,
) -> list[Judgment]:
    """The candidate's episodes as judgments, their advantage against the archive's
    baselines before them."""
    baselines = archive.baselines(window=window)
    norms, bench = episode_scores(episodes, suite, goal_weights, goals)
    ts = _now()
    out = []
    for ep in episodes:
        goal = suite.goal(ep.goal_id)
        norm = norms[(ep.goal_id, ep.episode)]
        out.append(
            # built here from trusted numbers: validated when read back, not now
            Judgment.model_construct(
                ts=ts,
                run_id=run_id,
                generation=generation,
                goal_id=ep.goal_id,
                strategy=e.strategy,
                variant=e.candidate_id,
                parent_id=e.parents[0] if e.parents else None,
                mutation_id=e.candidate_id,
                operator=e.operator,
                commit=e.commit or "",
                episode=ep.episode,
                seed=ep.seed,
                reward=round(ep.reward, 6),
                reward_norm=round(norm, 6),
                expected_optimal=goal.optimal_reward,
                regret=round(regret(ep.reward, optimal_reward=goal.optimal_reward), 6),
                advantage=round(norm - baselines.get(ep.goal_id, norm), 6),
                success=ep.failure is None and norm >= SUCCESS_NORM,
                failure=ep.failure,
                steps=ep.steps,
                duration_s=ep.duration_s,
                benchmark_score=round(min(1.0, bench), 6),
                measures=dict(ep.measures) or None,
            )
        )
    return out


def episode_scores(
    episodes: Sequence[Episode],
    suite: Suite,
    goal_weights: Mapping[str, float],
    goals: Sequence[Goal],
) -> tuple[dict[tuple[str, int], float], float]:
    """Each episode's reward_norm by (goal, episode), and their benchmark_score over `goals`
    (the strategy's) with the scored goals' weights."""
    norms = {}
    for ep in episodes:
        goal = suite.goal(ep.goal_id)
        norms[(ep.goal_id, ep.episode)] = reward_norm(
            ep.reward, min_reward=goal.min_reward, optimal_reward=goal.optimal_reward
        )
    per_goal: dict[str, list[float]] = {}
    for (goal_id, _), value in norms.items():
        per_goal.setdefault(goal_id, []).append(value)
    scored = {g.goal_id for g in goals}
    bench = benchmark_score(
        {k: sum(v) / len(v) for k, v in per_goal.items()},
        {g: w for g, w in goal_weights.items() if g in scored},
    )
    return norms, bench


def _waiting_for(e: Entry, worker: Future[Worker]) -> Callable[[], Worker]:
    """The prestarted worker, once it is up; a backend that could not start at all is the
    candidate's load error."""

    def started() -> Worker:
        waited = time.perf_counter()
        try:
            return worker.result()
        except WorkerFailure:
            raise
        except Exception as exc:
            raise WorkerFailure("load_error", str(exc)) from exc
        finally:
            log.debug(
                "%s: waited %.3fs for its worker", e.candidate_id, time.perf_counter() - waited
            )

    return started


def _discard(starter: ThreadPoolExecutor, future: Callable[[], Future[Worker]]) -> None:
    """Close a prestarted worker that was never used (the loop stopped early)."""

    def close(done: Future[Worker]) -> None:
        if done.exception() is None:
            done.result().close()

    future().add_done_callback(close)  # runs at once if it is already done


def _tell(into: queue.SimpleQueue[tuple[str, int]], cid: str, done: int) -> None:
    into.put((cid, done))
