"""The loop: generation after generation of plan (reflect, choose parents, vary), propose
(branches and pull requests), evaluate, decide (merge or close) and record (lineage/ on main).

Every step is idempotent, and the journal records what cannot be found again otherwise (the
plan, which evaluations are done), so a run that is killed at any point and started again
continues where it stopped, with no duplicate branch, pull request, archive ref or judgment.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

from bot import journal as journals
from bot.artifacts import ArtifactError, read_evaluation
from bot.deciding import Deciding
from bot.errors import RepoError
from bot.evaluating import Evaluating
from bot.journal import Journal
from bot.lineage_files import locked
from bot.loop_state import Event, LoopState, Reporter, goal_weights, weights_of
from bot.planning import Planning
from bot.proposing import Proposing
from bot.recording import Recording
from bot.records import GenerationSummary

__all__ = ["Event", "Loop", "LoopState", "Reporter", "goal_weights", "weights_of"]

log = logging.getLogger(__name__)


class Loop(Planning, Proposing, Evaluating, Deciding, Recording):
    """Runs generations. Each phase lives in its own module; this class strings them together
    and owns the run: the writer lock, resuming an interrupted generation, the work tree."""

    # ---- the run ---------------------------------------------------------------------------
    def run(
        self, *, generations: int | None, until: int | None, mutations: int
    ) -> list[GenerationSummary]:
        """Run `generations` more generations (an interrupted one counts), or until generation
        `until` is complete. Returns the summaries of the generations completed now."""
        done: list[GenerationSummary] = []
        with locked(self.repo.state_dir / "writer.lock", wait=False):
            self._following = self._follow_start()
            self._reconcile()
            try:
                while True:
                    current = self._current_generation()
                    journal = journals.load(self.ws.journal_path)
                    next_gen = journal.generation if journal else current + 1
                    if until is not None and next_gen > until:
                        break
                    evolved = sum(1 for d in done if d.generation > 0)
                    if (
                        until is None
                        and generations is not None
                        and evolved >= generations
                        and next_gen > 0
                    ):
                        break
                    done.append(self.generation(next_gen, mutations=mutations, journal=journal))
            finally:
                self._stop_learning()
                if self._workers is not None:
                    self._workers.close()
                self.pool.close()
                self.sandbox.close()
                if self._following:
                    self._follow()
                    self._worktree_record.unlink(missing_ok=True)
                    self._following = False
        return done

    # ---- a generation in two halves, for a forge elsewhere ---------------------------------
    def plan(self, *, mutations: int) -> Journal:
        """The next generation's plan, saved nowhere (a dry run)."""
        return self._plan(self._current_generation() + 1, mutations=mutations)

    def propose(self, *, mutations: int, remaining: int = 0) -> Journal:
        """The first half (GitHub's evolve job): plan a generation, or take up the one in
        progress, and commit, push and open its candidates. Nothing is evaluated here.
        `remaining` more generations are to follow this one (the select job chains them)."""
        with locked(self.repo.state_dir / "writer.lock", wait=False):
            self._reconcile()  # a generation in progress whose base is gone: anew
            journal = journals.load(self.ws.journal_path)
            if journal is None:
                journal = self.plan(mutations=mutations)
                journal.remaining, journal.mutations = remaining, mutations
                self._save(journal)
            self._materialise(journal)
            return journal

    def select(self, artifacts: Mapping[str, Path]) -> GenerationSummary:
        """The second half (the select job): take each candidate's evaluation artifact —
        untrusted input, checked strictly — then decide and record as `run` does."""
        with locked(self.repo.state_dir / "writer.lock", wait=False):
            journal = journals.load(self.ws.journal_path)
            if journal is None:
                raise RepoError("no generation in progress here: `augnes propose` starts one")
            archive = self._archive(journal)
            for e in journal.entries:
                path = artifacts.get(e.candidate_id)
                if path is None and e.evaluated:
                    continue
                if path is None:
                    raise ArtifactError(
                        f"no evaluation artifact for {e.candidate_id} (generation "
                        f"{journal.generation}); evaluate it, or rerun the evaluation job"
                    )
                episodes, heldout = read_evaluation(
                    path,
                    suite=self.ws.suite,
                    candidate=e.candidate_id,
                    commit=e.commit or journal.base,
                    harness=journal.base,
                )
                # kept apart: read only for the new elites, after the decision
                self.heldout_given[e.candidate_id] = heldout
                if e.evaluated:  # a select job run again: recorded the first time
                    continue
                seconds = sum(ep.duration_s for ep in episodes)
                self._record(journal, e, episodes, False, seconds, archive)
            self._heldout(journal, [e for e in journal.entries if e.baseline and e.evaluated])
            if journal.generation > 0:
                self._select(journal)
            summary = self._commit(journal)
            self.ws.forge.flush()
            return summary

    def _reconcile(self) -> None:
        """Main's history is the record. A generation in progress that main no longer leads
        to — its base is gone from main (undone with `git reset`), or main's last recorded
        generation is not the one before it — is set aside (its journal kept beside, its
        open pull requests closed with the reason) and planned anew; one line says so."""
        journal = journals.load(self.ws.journal_path)
        if journal is None:
            return
        current = self._current_generation()
        main = self.ws.main_sha()
        if journal.generation in (current, current + 1) and self.repo.is_ancestor(
            journal.base, main
        ):
            return
        g = journal.generation
        aside = self.ws.journal_path.with_name(
            f"journal.undone-g{g:03d}-{time.strftime('%Y%m%dT%H%M%S')}.json"
        )
        why = (
            f"generation {g} was planned on {journal.base[:10]}, which is no longer on "
            f"{self.ws.base} (undone); it is planned anew from {main[:10]}"
        )
        for e in journal.entries:
            if e.pr is None or e.operator == "human" or e.rerun:
                continue  # a person's pull request is taken up again by the next plan
            if self.ws.forge.get_pull(e.pr).state == "open":
                self.ws.forge.close(e.pr, reason=why, labels=["augnes", "augnes:rejected"])
        stamp = aside.name.removeprefix("journal.").removesuffix(".json")
        for path in (self.ws.pending_path, self.ws.pending_heldout_path):
            if path.exists():  # its judgments belong to no commit on main: kept beside
                path.replace(path.with_name(f"{path.stem}.{stamp}.jsonl"))
        self.ws.journal_path.replace(aside)
        self.emit(Event("problem", g, detail=f"{why}; its journal is kept in {aside}"))

    def _current_generation(self) -> int:
        stats = self.ws.committed_stats(self.ws.main_sha())
        return stats.generation if stats else -1

    def generation(self, g: int, *, mutations: int, journal: Journal | None) -> GenerationSummary:
        self._clock = time.perf_counter()
        if journal is None:
            started = time.perf_counter()
            journal = self._plan(g, mutations=mutations)
            log.debug("g%03d _plan: %.3fs", g, time.perf_counter() - started)
            self._save(journal)
            self.emit(Event("generation", g, total=len(journal.entries), detail="planned"))
        else:
            self.emit(Event("generation", g, total=len(journal.entries), detail="resumed"))
        for phase in (self._materialise, self._evaluate, self._select if g > 0 else None):
            if phase is not None:
                started = time.perf_counter()
                phase(journal)
                self._follow()  # merges moved the base branch
                log.debug("g%03d %s: %.3fs", g, phase.__name__, time.perf_counter() - started)
        started = time.perf_counter()
        summary = self._commit(journal)
        self._follow()
        self.ws.forge.flush()
        log.debug("g%03d _commit: %.3fs", g, time.perf_counter() - started)
        self._learn(journal)
        return summary
