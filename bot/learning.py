"""Learn the world model alongside the loop (with `[tool.augnes.world_model] enabled`).

Evaluations record the (s, a, s') rows the trusted evaluator stepped, up to `transitions` per
goal and generation. After a generation's lineage commit those rows join the buffers and the
models are retrained in a separate process — the seed document's asynchronous executor
task — while the next generation plans and evaluates. Finished models go into the next
lineage commit; one still training then is taken by the commit after; the run waits for the
last one at its end and commits it on its own.
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from bot.evaluator import Transitions
from bot.journal import Journal
from bot.loop_state import Event, LoopState
from bot.world_model.buffer import load_buffer, save_buffer
from bot.world_model.sampling import transitions_dir
from bot.world_model.store import (
    ModelRecord,
    commit_lineage,
    committed_stats,
    lineage_files,
    train_many,
)

log = logging.getLogger(__name__)


class Learning(LoopState):
    _observed: dict[str, Transitions] | None = None
    _training: Future[list[tuple[dict[str, Any], bytes]]] | None = None
    _trainer: ProcessPoolExecutor | None = None

    def _observing(self) -> dict[str, Transitions] | None:
        """Where evaluations record transitions this generation (None: learning is off)."""
        wm = self.cfg.world_model
        if not wm.enabled:
            return None
        if self._observed is None:
            self._observed = {
                g.goal_id: Transitions(limit=wm.transitions) for g in self.ws.suite.goals
            }
        return self._observed

    def _learn(self, journal: Journal) -> None:
        """After a generation's commit: keep its transitions, start retraining."""
        if not self.cfg.world_model.enabled or self._observed is None:
            return
        folder = transitions_dir(self.ws)
        added = 0
        for goal, rows in self._observed.items():
            buffer = load_buffer(folder, goal)
            added += buffer.add(rows, capacity=self.cfg.world_model.buffer_size)
            save_buffer(folder, buffer)
        self._observed = None
        if self._training is not None or not added:
            return  # one retraining at a time; the next generation's rows wait in the buffer
        jobs = [(g.goal_id, dim) for dim in sorted(self._dims()) for g in self.ws.suite.goals]
        if self._trainer is None:
            self._trainer = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
        self._training = self._trainer.submit(
            train_many, str(self.repo.root), jobs, journal.generation
        )
        self.emit(
            Event(
                "generation",
                journal.generation,
                detail=f"world model: {added} transitions kept; retraining {len(jobs)} model(s) "
                "in the background",
            )
        )

    def _dims(self) -> set[int]:
        """The capacities to retrain: the configured one, the capacity decision's, and those
        of the model-based elites."""
        dims = {self.cfg.world_model.hidden_dim}
        main = self.ws.main_sha()
        stats = self.ws.committed_stats(main)
        if stats is not None and stats.capacity is not None:
            dims.add(stats.capacity.next_capacity)
        for name, src in self.ws.strategies_on(main).items():
            if stats is not None and name in stats.elites:
                capacity = src.manifest.capacity(src.params)
                if capacity is not None:
                    dims.add(capacity)
        return dims

    def _learned(self, *, wait: bool) -> list[tuple[ModelRecord, bytes]]:
        """Models the background task finished (waiting for it when `wait`)."""
        if self._training is None or (not wait and not self._training.done()):
            return []
        future, self._training = self._training, None
        try:
            results = future.result()
        except Exception as exc:  # noqa: BLE001 - a failed retraining must not stop the loop
            log.warning("world-model retraining failed: %s", exc)
            self.emit(Event("problem", -1, detail=f"world-model retraining failed: {exc}"))
            return []
        return [(ModelRecord.model_validate(record), data) for record, data in results]

    def _stop_learning(self) -> None:
        """At the end of a run: wait for the retraining and commit its models."""
        try:
            trained = self._learned(wait=True)
            if trained:
                main = self.ws.main_sha()
                stats = self.ws.committed_stats(main)
                g = stats.generation if stats else 0
                files = lineage_files(
                    self.ws, committed_stats(self.ws, main), trained, generation=g
                )
                commit_lineage(
                    self.ws,
                    files,
                    subject=f"augnes(g{g:03d}): world model — {len(trained)} model(s) retrained",
                    body="\n".join(
                        f"- {r.goal_id} h{r.hidden_dim}: val_nmse {r.val_nmse} (linear "
                        f"{r.linear_nmse}); {r.buffer_size} transitions"
                        for r, _ in trained
                    ),
                    lock=False,
                )
        finally:
            if self._trainer is not None:
                self._trainer.shutdown(wait=True, cancel_futures=True)
                self._trainer = None
