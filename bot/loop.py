"""One generation of the loop: reflect, choose parents, vary, evaluate, select, record.

Every step is idempotent and the journal is saved after each one, so a run that is killed at
any point and started again continues where it stopped, with no duplicate branch, pull
request, archive ref or judgment.
"""

from __future__ import annotations

import logging
import random
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot import journal as journals
from bot.archive import Archive, VariantMeta, paired_diffs
from bot.candidates import (
    Planned,
    archive_ref,
    branch_name,
    candidate_id,
    commit_message,
    content_hash,
    pr_title,
    seed_id,
)
from bot.errors import EvaluationError
from bot.evaluator import EnvPool, Episode, Session
from bot.journal import Entry, Journal
from bot.lineage_files import append_jsonl, atomic_write, dump_json, jsonl_line, locked
from bot.manifest import PARAMS, dump_params, niche_key
from bot.operators import operators
from bot.parents import ArchiveEntry, choose_mate, choose_parents
from bot.records import Deferral, GenerationSummary, Judgment
from bot.reflect import active_deferrals, reflect
from bot.report import REPORT_MARKER, pr_body, report_comment
from bot.sandbox import Sandbox, Worker, WorkerFailure, get_sandbox
from bot.scoring import (
    SUCCESS_NORM,
    VariantScore,
    Weights,
    benchmark_score,
    median,
    regret,
    reward_norm,
)
from bot.selection import Decision, Entrant, Rule, decide, rebase
from bot.stats import build_regret, build_stats
from bot.workspace import StrategySource, Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    kind: str  # generation | planned | evaluating | evaluated | decided | committed | problem
    generation: int
    candidate: str | None = None
    detail: str = ""
    total: int = 0


Reporter = Callable[[Event], None]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def weights_of(ws: Workspace) -> Weights:
    s = ws.config.selection
    return Weights(mean=s.w_mean, advantage=s.w_advantage, delta=s.w_delta, formula=s.formula)


def goal_weights(ws: Workspace) -> dict[str, float]:
    return {g.goal_id: g.weight for g in ws.suite.goals}


class Loop:
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
        self.sandbox = sandbox or get_sandbox(ws.config.evaluation.sandbox)
        self.weights = weights_of(ws)
        self.goal_weights = goal_weights(ws)
        self.run_id = uuid.uuid4().hex[:12]
        self.pool = EnvPool()
        self._live: tuple[Journal, Archive] | None = None
        self._clock = time.perf_counter()

    # ---- the run ---------------------------------------------------------------------------
    def run(
        self, *, generations: int | None, until: int | None, mutations: int
    ) -> list[GenerationSummary]:
        """Run `generations` more generations (an interrupted one counts), or until generation
        `until` is complete. Returns the summaries of the generations completed now."""
        done: list[GenerationSummary] = []
        with locked(self.repo.state_dir / "writer.lock", wait=False):
            synced = self._worktree_base()
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
                self.pool.close()
                self.sandbox.close()
                if synced is not None:
                    self._sync_worktree(synced)
        return done

    @property
    def _worktree_record(self) -> Path:
        return self.repo.state_dir / "worktree-base"

    def _worktree_base(self) -> str | None:
        """The commit the checked-out work tree stands at: recorded by an earlier run that
        could not sync it (or was killed), else the base branch now."""
        if self.repo.head_branch() != self.ws.base:
            return None
        if self._worktree_record.exists():
            return self._worktree_record.read_text(encoding="utf-8").strip()
        main = self.ws.main_sha()
        atomic_write(self._worktree_record, main.encode())
        return main

    def _sync_worktree(self, old: str) -> None:
        """Carry the work tree along with the base branch, once per run."""
        new = self.ws.main_sha()
        if old == new or self.repo.sync_worktree(self.ws.base, old, new):
            self._worktree_record.unlink(missing_ok=True)
            return
        self.emit(
            Event(
                "problem",
                -1,
                detail=(
                    f"your work tree was not updated to {self.ws.base} ({new[:10]}) because of local "
                    f"changes; commit or stash them, then run `git reset --keep {new[:10]}`"
                ),
            )
        )

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
                log.debug("g%03d %s: %.3fs", g, phase.__name__, time.perf_counter() - started)
        started = time.perf_counter()
        summary = self._commit(journal)
        log.debug("g%03d _commit: %.3fs", g, time.perf_counter() - started)
        return summary

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

    def _meta(self, e: Entry, generation: int) -> VariantMeta:
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
            summary=e.summary,
            status="elite" if e.baseline else "active",
            pr=e.pr,
            early_stopped=e.early_stopped,
            hidden_dim=e.hidden_dim,
        )

    def _scores(self, archive: Archive) -> dict[str, VariantScore]:
        return archive.scores(
            weights=self.weights,
            goal_weights=self.goal_weights,
            window=self.cfg.selection.stats_window,
        )

    # ---- plan: reflect, choose parents, vary ---------------------------------------------
    def _plan(self, g: int, *, mutations: int) -> Journal:
        main = self.ws.main_sha()
        archive = self.ws.load_archive(main)
        sources = self.ws.strategies_on(main)
        for problem in self.ws.problems:
            self.emit(Event("problem", g, detail=problem))
        if not sources:
            raise EvaluationError(
                f"no valid strategy under {self.cfg.strategies_dir}/ on {self.ws.base}; "
                "fix the manifests reported above"
            )
        entries = self._baselines(g, archive, sources, main)
        if g > 0:
            entries += self._vary(
                g, archive, sources, mutations, planned={e.content for e in entries}
            )
        return Journal(run_id=self.run_id, generation=g, base=main, started=_now(), entries=entries)

    def _baselines(
        self, g: int, archive: Archive, sources: dict[str, StrategySource], main: str
    ) -> list[Entry]:
        """Strategies on main that the archive does not know (seeds, or a person's edit)."""
        out = []
        for name, src in sorted(sources.items()):
            content = content_hash(src.files)
            elite = archive.elites.get(name)
            if elite in archive.meta and archive.meta[elite].content == content:
                continue
            cid = seed_id(name, content)
            if cid in archive.meta:
                continue
            out.append(
                Entry(
                    candidate_id=cid,
                    strategy=name,
                    family=src.manifest.family,
                    niche=niche_key(src.manifest, src.params),
                    parents=[elite] if elite else [],
                    operator="seed" if g == 0 else "human",
                    seed=0,
                    summary="as committed on " + self.ws.base,
                    content=content,
                    files={},
                    hidden_dim=_hidden_dim(src),
                    baseline=True,
                    commit=main,
                )
            )
        return out

    def _vary(
        self,
        g: int,
        archive: Archive,
        sources: dict[str, StrategySource],
        mutations: int,
        *,
        planned: set[str],
    ) -> list[Entry]:
        scores = self._scores(archive)
        main = self.ws.main_sha()
        _, deferrals = self.ws.committed_deferrals(main)
        deferred = active_deferrals(
            [(d.variant, d.until_generation) for d in deferrals], generation=g
        )
        stats = self.ws.committed_stats(main)
        boosted = {cid for cid, v in (stats.variants.items() if stats else ()) if v.mutate_next}
        failed = set(stats.failure_cache if stats else ())
        children = archive.children()
        pool = [
            ArchiveEntry(
                cid,
                m.family,
                m.strategy,
                scores[cid].selection_score,
                children.get(cid, 0),
                cid in boosted,
            )
            for cid, m in sorted(archive.meta.items())
            if m.status in ("elite", "active") and cid not in deferred and m.strategy in sources
        ]
        if not pool:
            return []
        pc = self.cfg.parents
        s_mid = median(e.score for e in pool) if pc.s_mid == "median" else float(pc.s_mid)
        rng = random.Random(f"{self.cfg.seed}:{g}:plan")
        ops = operators(sigma=self.cfg.variation.sigma, rate=self.cfg.variation.rate)
        known = archive.contents() | failed | planned
        entries: list[Entry] = []
        for parent in choose_parents(
            pool, count=mutations, k=pc.k, s_mid=s_mid, boost=pc.mutation_boost, rng=rng
        ):
            for _ in range(self.cfg.variation.max_attempts):
                op_seed = rng.randrange(2**31)
                entry = self._child(archive, parent, pool, ops, op_seed, s_mid)
                if entry and entry.content not in known and entry.candidate_id not in archive.meta:
                    known.add(entry.content)
                    entries.append(entry)
                    self.emit(Event("planned", g, entry.candidate_id, entry.summary))
                    break
            else:
                self.emit(
                    Event(
                        "problem",
                        g,
                        detail=f"no new child of {parent.candidate_id} after "
                        f"{self.cfg.variation.max_attempts} attempts",
                    )
                )
        return entries

    def _child(
        self,
        archive: Archive,
        parent: ArchiveEntry,
        pool: Sequence[ArchiveEntry],
        ops: dict,  # type: ignore[type-arg]
        op_seed: int,
        s_mid: float,
    ) -> Entry | None:
        rng = random.Random(op_seed)
        meta = archive.meta[parent.candidate_id]
        first = self.ws.read_strategy(meta.commit, meta.strategy)
        parents = [parent.candidate_id]
        values = [first.params]
        operator = ops["perturb"]
        if rng.random() < self.cfg.variation.crossover_rate:
            same = [e for e in pool if e.niche == parent.niche]
            mate = choose_mate(
                parent,
                same,
                k=self.cfg.parents.k,
                s_mid=s_mid,
                boost=self.cfg.parents.mutation_boost,
                rng=rng,
            )
            if mate is not None:
                operator = ops["crossover"]
                parents.append(mate.candidate_id)
                other = archive.meta[mate.candidate_id]
                values.append(self.ws.read_strategy(other.commit, other.strategy).params)
        child, summary = operator.apply(first.manifest, values, rng=rng)
        text = dump_params(child)
        files = dict(first.files)
        files[PARAMS] = text.encode()
        content = content_hash(files)
        cid = candidate_id(parents=parents, operator=operator.name, content=content)
        return Entry(
            candidate_id=cid,
            strategy=meta.strategy,
            family=first.manifest.family,
            niche=niche_key(first.manifest, child),
            parents=parents,
            operator=operator.name,
            seed=op_seed,
            summary=summary,
            content=content,
            files={PARAMS: text},
            hidden_dim=int(child["hidden_dim"])
            if isinstance(child.get("hidden_dim"), int)
            else None,
        )

    # ---- vary: commits and pull requests -------------------------------------------------
    def _materialise(self, journal: Journal) -> None:
        archive = self._archive(journal)
        g = journal.generation
        todo = [e for e in journal.entries if not e.baseline and e.pr is None]
        refs = {f"refs/heads/{branch_name(g, e.candidate_id)}": e for e in todo}
        have = self.repo.existing(list(refs))
        made = {
            ref: self._commit_child(journal, e, _planned(e), archive)
            for ref, e in refs.items()
            if ref not in have
        }
        self.repo.transaction(create=made, reason=f"augnes: generation {g} candidates")
        scores: dict[str, VariantScore] = {}
        for ref, e in refs.items():
            branch = ref.removeprefix("refs/heads/")
            sha = have.get(ref) or made[ref]
            plan = _planned(e)
            e.commit = sha
            pull = self.ws.forge.find_pull(branch)
            if pull is None:
                scores = scores or self._scores(archive)
                body = pr_body(
                    candidate=e.candidate_id,
                    strategy=e.strategy,
                    niche=e.niche,
                    generation=g,
                    operator=e.operator,
                    summary=e.summary,
                    parents=e.parents,
                    parent_scores={p: scores[p] for p in e.parents if p in scores},
                    diffstat=f"{len(e.files)} file(s) changed",
                    harness=journal.base,
                    seed=e.seed,
                )
                pull = self.ws.forge.open_pull(
                    branch=branch,
                    base=self.ws.base,
                    title=pr_title(plan, generation=g),
                    body=body,
                    head_sha=sha,
                    labels=["augnes", "augnes:benchmarking"],
                )
            e.pr = pull.number
        # One save for all: every step above finds its own work again (branch, pull request).
        self._save(journal)

    def _commit_child(self, journal: Journal, e: Entry, plan: Planned, archive: Archive) -> str:
        parent_commits = [archive.meta[p].commit for p in e.parents]
        directory = self.ws.strategy_dir(e.strategy)
        files = self.repo.read_dir(parent_commits[0], directory)
        files.update({k: v.encode() for k, v in e.files.items()})
        tree = self.repo.write_tree(journal.base, replace={directory: files})
        message = commit_message(plan, generation=journal.generation, harness=journal.base)
        return self.repo.commit_tree(tree, parents=[journal.base, *parent_commits], message=message)

    # ---- evaluate --------------------------------------------------------------------------
    def _evaluate(self, journal: Journal) -> None:
        todo = [e for e in journal.entries if not e.evaluated]
        if not todo:
            return
        archive = self._archive(journal)
        done = len(journal.entries) - len(todo)
        with (
            ExitStack() as stack,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="augnes-prestart") as starter,
        ):
            folders = {}

            def prestart(e: Entry) -> Future[Worker]:
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="augnes-eval-")))
                folders[e.candidate_id] = where = tmp / e.strategy
                self.repo.export_dir(e.commit or "", self.ws.strategy_dir(e.strategy), where)
                return starter.submit(
                    self.sandbox.start, where, timeout=self.cfg.evaluation.start_timeout_s
                )

            upcoming = prestart(todo[0])
            stack.callback(_discard, starter, lambda: upcoming)
            for n, e in enumerate(todo):
                current = upcoming
                if n + 1 < len(todo):  # start the next worker while this one is evaluated
                    upcoming = prestart(todo[n + 1])
                self.emit(
                    Event(
                        "evaluating",
                        journal.generation,
                        e.candidate_id,
                        e.summary,
                        len(journal.entries),
                    )
                )
                episodes, early, seconds = self._run_episodes(
                    e, archive, folders[e.candidate_id], current
                )
                self._record(journal, e, episodes, early, seconds, archive)
                done += 1
                bench = max(
                    (j.benchmark_score for j in archive.by_variant().get(e.candidate_id, [])),
                    default=0.0,
                )
                self.emit(
                    Event(
                        "evaluated",
                        journal.generation,
                        e.candidate_id,
                        f"benchmark_score {bench:.3f}" + (" (early stop)" if early else ""),
                        done,
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
        append_jsonl(self.ws.pending_path, fresh)
        if e.pr is not None:
            self.ws.forge.set_status(
                e.pr,
                context="augnes/benchmark",
                sha=e.commit or "",
                state="success",
                description="benchmarked",
            )
            self.ws.forge.set_labels(e.pr, ["augnes", "augnes:benchmarked"])
        e.evaluated, e.early_stopped, e.episode_s = True, early, seconds
        if e.baseline:
            archive.elites[e.strategy] = e.candidate_id
        self._save(journal)

    def _run_episodes(
        self, e: Entry, archive: Archive, where: Path, worker: Future[Worker]
    ) -> tuple[list[Episode], bool, float]:
        suite = self.ws.suite
        ev = self.cfg.evaluation
        elite = archive.elites.get(e.strategy)
        elite_judgments = archive.by_variant().get(elite, []) if elite and not e.baseline else []
        split = ev.first_stage_episodes if elite_judgments else 0

        def started() -> Worker:
            waited = time.perf_counter()
            try:
                return worker.result()
            except WorkerFailure:
                raise
            except Exception as exc:  # a backend that could not start at all
                raise WorkerFailure("load_error", str(exc)) from exc
            finally:
                log.debug(
                    "%s: waited %.3fs for its worker", e.candidate_id, time.perf_counter() - waited
                )

        with Session(
            self.sandbox,
            where,
            self.pool,
            reply_timeout=ev.reply_timeout_s,
            start_timeout=ev.start_timeout_s,
            prestarted=started,
        ) as session:
            episodes = session.run([(g, suite.seeds(g)[:split], 0) for g in suite.goals])
            if split and self._stop_early(episodes, elite_judgments):
                return episodes, True, session.episode_seconds
            episodes += session.run([(g, suite.seeds(g)[split:], split) for g in suite.goals])
            return episodes, False, session.episode_seconds

    def _stop_early(self, episodes: Sequence[Episode], elite: Sequence[Judgment]) -> bool:
        """Stage one: stop a child whose paired reward_norm trails the elite's by the margin."""
        theirs = {(j.goal_id, j.seed): j.reward_norm for j in elite}
        mine = []
        for ep in episodes:
            goal = self.ws.suite.goal(ep.goal_id)
            if (ep.goal_id, ep.seed) in theirs:
                mine.append(
                    reward_norm(
                        ep.reward, min_reward=goal.min_reward, optimal_reward=goal.optimal_reward
                    )
                    - theirs[(ep.goal_id, ep.seed)]
                )
        return bool(mine) and sum(mine) / len(mine) < -self.cfg.evaluation.early_stop_margin

    def _judgments(
        self, e: Entry, episodes: Sequence[Episode], archive: Archive, g: int
    ) -> list[Judgment]:
        baselines = archive.baselines(window=self.cfg.selection.stats_window)
        norms = {}
        for ep in episodes:
            goal = self.ws.suite.goal(ep.goal_id)
            norms[(ep.goal_id, ep.episode)] = reward_norm(
                ep.reward, min_reward=goal.min_reward, optimal_reward=goal.optimal_reward
            )
        per_goal: dict[str, list[float]] = {}
        for (goal_id, _), value in norms.items():
            per_goal.setdefault(goal_id, []).append(value)
        bench = benchmark_score(
            {k: sum(v) / len(v) for k, v in per_goal.items()}, self.goal_weights
        )
        ts = _now()
        out = []
        for ep in episodes:
            goal = self.ws.suite.goal(ep.goal_id)
            norm = norms[(ep.goal_id, ep.episode)]
            out.append(
                # built here from trusted numbers: validated when read back, not now
                Judgment.model_construct(
                    ts=ts,
                    run_id=self.run_id,
                    generation=g,
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
                )
            )
        return out

    # ---- select ----------------------------------------------------------------------------
    def _select(self, journal: Journal) -> None:
        archive = self._archive(journal)
        scores = self._comparison_scores(archive)
        grouped = archive.by_variant()
        children = [e for e in journal.entries if not e.baseline]
        entrants = []
        for e in children:
            elite = archive.elites.get(e.strategy)
            invalid = None
            if e.early_stopped:
                ev = self.cfg.evaluation
                invalid = (
                    f"early stop: after {ev.first_stage_episodes} episode(s) per goal its "
                    f"reward_norm trailed the elite's by more than {ev.early_stop_margin}"
                )
            elif scores[e.candidate_id].fails == scores[e.candidate_id].uses:
                invalid = "invalid evaluation: every episode failed"
            entrants.append(
                Entrant(
                    e.candidate_id,
                    e.strategy,
                    scores[e.candidate_id],
                    invalid,
                    paired_diffs(grouped.get(e.candidate_id, []), grouped.get(elite, []))
                    if elite
                    else (),
                )
            )
        elites = {name: scores[cid] for name, cid in archive.elites.items() if cid in scores}
        s = self.cfg.selection
        rule = Rule(
            s.min_improvement, s.max_goal_regression, s.max_failure_rate, s.paired_test, s.alpha
        )
        decisions = decide(
            entrants,
            elites,
            rule=rule,
            rng=random.Random(f"{self.cfg.seed}:{journal.generation}:select"),
        )
        for e, d in zip(children, decisions, strict=False):
            if e.decision is not None or e.pr is None:
                continue
            self._apply(journal, e, d, scores, archive)
            self.emit(
                Event(
                    "decided",
                    journal.generation,
                    e.candidate_id,
                    ("merged: " if d.merge else "closed: ") + d.reason,
                )
            )
        # One save for all: merging and closing are idempotent and the decisions are
        # recomputed identically after an interruption.
        self._save(journal)

    def _comparison_scores(self, archive: Archive) -> dict[str, VariantScore]:
        """Scores as the merge rule compares them (see `selection.compare_delta`)."""
        scores = self._scores(archive)
        if self.cfg.selection.compare_delta == "parent":
            return scores
        reference = {
            name: scores[cid].benchmark_score
            for name, cid in archive.elites.items()
            if cid in scores
        }
        return {
            cid: rebase(s, reference=reference[archive.meta[cid].strategy], weights=self.weights)
            if archive.meta[cid].strategy in reference
            else s
            for cid, s in scores.items()
        }

    def _apply(
        self,
        journal: Journal,
        e: Entry,
        d: Decision,
        scores: dict[str, VariantScore],
        archive: Archive,
    ) -> None:
        assert e.pr is not None and e.commit is not None
        elite = archive.elites.get(e.strategy)
        comment = report_comment(
            candidate=e.candidate_id,
            child=scores[e.candidate_id],
            parent=scores.get(e.parents[0]) if e.parents else None,
            elite=scores.get(elite) if elite else None,
            elite_id=elite,
            decision=d,
            weights=self.weights,
        )
        forge = self.ws.forge
        forge.sticky_comment(e.pr, marker=REPORT_MARKER, body=comment)
        if d.merge:
            forge.merge(
                e.pr,
                head_sha=e.commit,
                message=f"Merge {branch_name(journal.generation, e.candidate_id)}: {e.summary}\n\n"
                f"Augnes-Candidate: {e.candidate_id}\nAugnes-Generation: {journal.generation}\n",
            )
            forge.set_labels(e.pr, ["augnes", "augnes:selected"])
        else:
            forge.set_labels(e.pr, ["augnes", "augnes:rejected"])
            forge.close(e.pr, reason=d.reason)
        e.decision, e.merged = d.reason, d.merge

    # ---- record ----------------------------------------------------------------------------
    def _commit(self, journal: Journal) -> GenerationSummary:
        g = journal.generation
        main = self.ws.main_sha()
        if self._is_stats_commit(main, g):
            summary = self.ws.committed_stats(main).generations[-1]  # type: ignore[union-attr]
            self._finish(journal)
            return summary
        text, committed = self.ws.committed_judgments(main)
        keys = {j.key for j in committed}
        new = [j for j in self.ws.pending_judgments() if j.key not in keys]
        archive = self._archive(journal)  # committed judgments, then the new ones
        prior = self.ws.committed_stats(main)
        for e in journal.entries:
            if e.merged:
                old = archive.elites.get(e.strategy)
                if old in archive.meta:
                    archive.update(old, status="active")
                archive.elites[e.strategy] = e.candidate_id
                archive.update(
                    e.candidate_id, status="elite", decision="merged: " + (e.decision or "")
                )
            elif e.merged is False:
                archive.update(e.candidate_id, decision="closed: " + (e.decision or ""))
            if e.baseline and e.candidate_id in archive.meta:
                old = next(
                    (
                        c
                        for c, m in archive.meta.items()
                        if m.strategy == e.strategy and m.status == "elite" and c != e.candidate_id
                    ),
                    None,
                )
                if old:
                    archive.update(old, status="active")
        deferral_text, deferrals = self.ws.committed_deferrals(main)
        penalties, mutate_next, failure_cache, new_deferrals = self._reflect(
            journal, archive, prior, g
        )
        for variant, until in [(d.variant, d.until_generation) for d in deferrals] + [
            (d.variant, d.until_generation) for d in new_deferrals
        ]:
            if variant in archive.meta and archive.meta[variant].status != "archived":
                archive.update(variant, status="deferred" if until > g else "active")
        scores = self._scores(archive)
        summary = self._summary(journal, archive, scores, committed_new=len(new))
        stats = build_stats(
            archive,
            scores,
            generation=g,
            weights=self.weights,
            window=self.cfg.selection.stats_window,
            penalties=penalties,
            mutate_next=mutate_next,
            generations=[*(prior.generations if prior else []), summary],
            failure_cache=failure_cache,
        )
        tree = self.repo.write_files(
            main,
            {
                self.ws.lineage("judgments.jsonl"): (
                    text + "".join(jsonl_line(j) for j in new)
                ).encode(),
                self.ws.lineage("deferred_strategies.jsonl"): (
                    deferral_text + "".join(jsonl_line(d) for d in new_deferrals)
                ).encode(),
                self.ws.lineage("strategy_stats.json"): dump_json(stats),
                self.ws.lineage("regret.json"): dump_json(
                    build_regret(archive.judgments, generation=g)
                ),
            },
        )
        merged = sum(1 for e in journal.entries if e.merged)
        closed = sum(1 for e in journal.entries if e.merged is False)
        if g == 0:
            subject = f"augnes(g000): baseline — evaluated {len(journal.entries)} seed variant(s)"
        else:
            subject = f"augnes(g{g:03d}): selection — merged {merged}, closed {closed}"
        body = "\n".join(
            f"- {e.candidate_id} ({e.strategy}): {'merged' if e.merged else 'closed' if e.merged is False else 'baseline'}"
            f"{' — ' + e.decision if e.decision else ''}"
            for e in journal.entries
        )
        message = f"{subject}\n\n{body}\n\nAugnes-Generation: {g}\nAugnes-Run: {journal.run_id}\n"
        sha = self.repo.commit_tree(tree, parents=[main], message=message)
        # main and the archive refs of every variant evaluated here move together
        wanted = {archive_ref(e.candidate_id): e.commit for e in journal.entries if e.commit}
        have = self.repo.existing(list(wanted))
        self.repo.transaction(
            create={ref: c for ref, c in wanted.items() if ref not in have},
            move={f"refs/heads/{self.ws.base}": (sha, main)},
            reason=subject,
        )
        self._finish(journal)
        self.emit(Event("committed", g, detail=subject))
        return summary

    def _is_stats_commit(self, sha: str, g: int) -> bool:
        return ("Augnes-Generation", str(g)) in self.repo.trailers(sha) and self.repo.message(
            sha
        ).startswith(f"augnes(g{g:03d}): ")

    def _finish(self, journal: Journal) -> None:
        """Everything pending is now on main: empty the pending file, drop the journal."""
        atomic_write(self.ws.pending_path, b"")
        self.ws.journal_path.unlink(missing_ok=True)

    def _reflect(self, journal: Journal, archive: Archive, prior, g: int):  # type: ignore[no-untyped-def]
        grouped = archive.by_variant()
        recent = {e.candidate_id: grouped.get(e.candidate_id, []) for e in journal.entries}
        rc = self.cfg.reflection
        verdicts = reflect(
            recent, low_reward=rc.low_reward, penalty=rc.penalty, failure_limit=rc.failure_limit
        )
        penalties = {
            cid: v.penalty for cid, v in (prior.variants.items() if prior else ()) if v.penalty
        }
        mutate_next = {cid for cid, v in (prior.variants.items() if prior else ()) if v.mutate_next}
        failure_cache = list(prior.failure_cache if prior else [])
        new_deferrals = []
        for v in verdicts:
            penalties[v.candidate_id] = v.penalty
            mutate_next.add(v.candidate_id)
            meta = archive.meta[v.candidate_id]
            if v.failed_content:
                failure_cache.append(meta.content)
                archive.update(v.candidate_id, status="archived")
            if v.defer and meta.status != "elite":
                new_deferrals.append(
                    Deferral(
                        ts=_now(),
                        variant=v.candidate_id,
                        strategy=meta.strategy,
                        reason=v.reason,
                        generation=g,
                        until_generation=g + rc.cooldown_generations,
                    )
                )
        # a parent chosen this generation has had its chance: clear its flag
        for e in journal.entries:
            for p in e.parents:
                mutate_next.discard(p)
        return penalties, mutate_next, failure_cache, new_deferrals

    def _summary(
        self,
        journal: Journal,
        archive: Archive,
        scores: dict[str, VariantScore],
        *,
        committed_new: int,
    ) -> GenerationSummary:
        elites = [cid for cid in archive.elites.values() if cid in scores]
        best = max(elites, key=lambda c: scores[c].selection_score) if elites else None
        regrets: dict[str, float] = {}
        for cid in elites:
            for goal, gs in scores[cid].goals.items():
                regrets[goal] = min(regrets.get(goal, float("inf")), gs.avg_regret)
        self._save(journal)
        return GenerationSummary(
            generation=journal.generation,
            run_id=journal.run_id,
            evaluated=sum(1 for e in journal.entries if e.evaluated),
            merged=sum(1 for e in journal.entries if e.merged),
            closed=sum(1 for e in journal.entries if e.merged is False),
            early_stopped=sum(1 for e in journal.entries if e.early_stopped),
            best_selection_score=round(scores[best].selection_score, 6) if best else 0.0,
            best_benchmark_score=round(
                max((scores[c].benchmark_score for c in elites), default=0.0), 6
            ),
            avg_regret={k: round(v, 4) for k, v in sorted(regrets.items())},
            wall_s=round(journal.wall_s, 3),
            episode_s=round(sum(e.episode_s for e in journal.entries), 3),
        )


def _discard(starter: ThreadPoolExecutor, future: Callable[[], Future[Worker]]) -> None:
    """Close a prestarted worker that was never used (the loop stopped early)."""

    def close(done: Future[Worker]) -> None:
        if done.exception() is None:
            done.result().close()

    future().add_done_callback(close)  # runs at once if it is already done


def _planned(e: Entry) -> Planned:
    return Planned(
        e.candidate_id,
        e.strategy,
        tuple(e.parents),
        e.operator,
        e.seed,
        e.summary,
        e.content,
        e.files,
    )


def _hidden_dim(src: StrategySource) -> int | None:
    value = src.params.get("hidden_dim")
    return value if isinstance(value, int) else None
