"""State shared by the phases of the loop, and the events the loop reports."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot import journal as journals
from bot.archive import Archive, VariantMeta
from bot.evaluator import EnvPool, Episode
from bot.journal import Entry, Journal
from bot.lineage_files import atomic_write
from bot.sandbox import Sandbox, open_sandbox
from bot.scoring import VariantScore, Weights
from bot.workspace import Workspace
from bot.world_model.store import ModelStore


@dataclass(frozen=True)
class Event:
    # generation | planned | evaluating | progress | evaluated | decided | committed | problem
    # | search | failure | heldout | llm (one model call)
    kind: str
    generation: int
    candidate: str | None = None
    detail: str = ""
    total: int = 0
    operator: str = ""  # the candidate's operator, where there is a candidate
    seconds: float | None = None  # evaluated: its episodes; committed: the generation's wall time
    done: int = 0  # progress: the candidate's episodes finished so far (of `total`)
    template: str = ""  # llm: the prompt template
    outcome: str = ""  # llm: "usable", the refusal's kind, or "endpoint failed"


Reporter = Callable[[Event], None]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def weights_of(ws: Workspace) -> Weights:
    s = ws.config.selection
    return Weights(mean=s.w_mean, advantage=s.w_advantage, delta=s.w_delta, formula=s.formula)


def goal_weights(ws: Workspace) -> dict[str, float]:
    return ws.suite.scored_weights()


class LoopState:
    """What every phase of a generation shares: the workspace, the sandbox, the event sink,
    the journal's clock and the generation's archive."""

    def __init__(
        self,
        ws: Workspace,
        *,
        on_event: Reporter = lambda event: None,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.ws = ws
        self.repo = ws.repo
        self.cfg = ws.config
        self.emit = on_event
        self.sandbox = sandbox or open_sandbox(ws.config.evaluation)
        self.weights = weights_of(ws)
        self.goal_weights = goal_weights(ws)
        self.run_id = uuid.uuid4().hex[:12]
        self.pool = EnvPool()
        self._live: tuple[Journal, Archive] | None = None
        self.models: ModelStore | None = None  # this generation's world models
        # held-out episodes an evaluation job brought (select job): used instead of running
        self.heldout_given: dict[str, list[Episode]] = {}
        self._clock = time.perf_counter()
        self._following = False  # the base branch is checked out: its work tree moves with it
        self.focus: frozenset[str] = frozenset()  # `run --strategy`: only these have children

    def _save(self, journal: Journal) -> None:
        now = time.perf_counter()
        journal.wall_s += now - self._clock
        self._clock = now
        journals.save(self.ws.journal_path, journal)

    # ---- archive ---------------------------------------------------------------------------
    def _archive(self, journal: Journal) -> Archive:
        """The committed archive plus pending judgments and this generation's entries. Within
        one generation in one process it is loaded once: every judgment this process adds goes
        through it, and the lineage files on main do not change until the stats commit."""
        if self._live is not None and self._live[0] is journal:
            archive = self._live[1]
        else:
            archive = self.ws.load_archive(self.ws.main_sha())
            self._live = (journal, archive)
        for e in journal.entries:
            if e.candidate_id not in archive.meta and e.commit:
                archive.add(self._meta(e, journal.generation))
        for e in journal.entries:
            if e.baseline and e.evaluated:
                archive.elites[e.strategy] = e.candidate_id
        return archive

    def _model_store(self, journal: Journal) -> ModelStore:
        """World models from the generation's base commit; a missing one is trained from the
        local transitions, kept for this generation's lineage commit."""
        if self.models is None or self.models.generation != journal.generation:
            self.models = ModelStore(
                self.ws, journal.base, train_missing=True, generation=journal.generation
            )
        return self.models

    def _meta(self, e: Entry, generation: int) -> VariantMeta:
        return meta_of(e, generation)

    def _scores(self, archive: Archive) -> dict[str, VariantScore]:
        several = bool(self.ws.suite.members)  # suites evaluated together: per strategy
        return archive.scores(
            weights=self.weights,
            goal_weights=self.goal_weights,
            window=self.cfg.selection.stats_window,
            strategy_goals=self.ws.strategy_goals(self.ws.main_sha()) if several else None,
        )

    # ---- the checked-out work tree -------------------------------------------------------
    @property
    def _worktree_record(self) -> Path:
        return self.repo.state_dir / "worktree-base"

    def _follow_start(self) -> bool:
        """Whether the base branch is checked out here, so that the work tree is carried
        along each time the bot moves the branch; first from wherever a run that was
        killed left it (recorded in `.git/augnes/worktree-base`)."""
        if self.repo.head_branch() != self.ws.base:
            return False
        if self._worktree_record.exists():
            self._following = True
            self._follow()
        else:
            atomic_write(self._worktree_record, self.ws.main_sha().encode())
        return True

    def _follow(self) -> None:
        """Carry the checked-out work tree and index to where the base branch is now,
        keeping every local change (see `Repo.follow`); said once per file left alone."""
        if not self._following:
            return
        old = self._worktree_record.read_text(encoding="utf-8").strip()
        new = self.ws.main_sha()
        if old == new:
            return
        kept = self.repo.follow(self.ws.base, old, new)
        atomic_write(self._worktree_record, new.encode())
        base = self.ws.base
        for path in kept:
            self.emit(
                Event(
                    "problem",
                    -1,
                    detail=(
                        f"{path}: your uncommitted edit overlaps what {base} now holds there "
                        f"({new[:10]}), so it is kept as you left it; `git diff {path}` shows "
                        f"what committing it would change on {base}, and `git checkout -- "
                        f"{path}` takes {base}'s version instead"
                    ),
                )
            )


def meta_of(e: Entry, generation: int) -> VariantMeta:
    """A planned or evaluated entry as the archive records it."""
    return VariantMeta(
        candidate_id=e.candidate_id,
        strategy=e.strategy,
        family=e.family,
        niche=e.niche,
        commit=e.commit or "",
        parents=tuple(e.parents),
        generation=generation,
        operator=e.operator,
        content=e.content,
        novelty=e.novelty,
        tokens=e.tokens,
        cost=e.cost,
        summary=e.summary,
        status="elite" if e.baseline else "active",
        pr=e.pr,
        early_stopped=e.early_stopped,
        clone=e.clone,
        cell=e.cell,
        hidden_dim=e.hidden_dim,
        failure=e.failure,
    )
