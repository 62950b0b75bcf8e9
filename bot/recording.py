"""Record a generation: reflect on it, rebuild the aggregates, and commit lineage/ on main
together with the archive refs, in one step."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from bot.archive import Archive
from bot.candidates import archive_ref
from bot.config import ReflectionConfig
from bot.heldout import HeldOut, heldout_scores
from bot.journal import Entry, Journal
from bot.learning import Learning
from bot.lineage_files import atomic_write, dump_json, extend_jsonl
from bot.loop_state import Event, _now
from bot.operators.bandit import shares
from bot.planner import operator_records, wasted_attempts
from bot.plots import regret_figure
from bot.records import (
    Deferral,
    GenerationSummary,
    LLMUsage,
    OperatorStats,
    StrategyStatsFile,
)
from bot.reflect import reflect
from bot.report import DASHBOARD_LABEL, DASHBOARD_TITLE, dashboard
from bot.scoring import VariantScore
from bot.search_state import learn
from bot.stats import build_regret, build_stats, operator_stats
from bot.world_model.store import committed_stats as committed_world_models
from bot.world_model.store import lineage_files


class Outcome(NamedTuple):
    """What reflection on a generation changes in the records."""

    penalties: dict[str, float]
    mutate_next: set[str]
    failure_cache: list[str]
    deferrals: list[Deferral]


class Recording(Learning):
    def _commit(self, journal: Journal) -> GenerationSummary:
        """Rebuild the aggregates and commit lineage/ on main, moving main and the archive
        refs together. A generation whose commit is already on main is only finished."""
        g = journal.generation
        main = self.ws.main_sha()
        prior = self.ws.committed_stats(main)
        if prior is not None and self._is_stats_commit(main, g):
            self._finish(journal)
            return prior.generations[-1]
        text, committed = self.ws.committed_judgments(main)
        keys = {j.key for j in committed}
        new = [j for j in self.ws.pending_judgments() if j.key not in keys]
        archive = self._archive(journal)  # committed judgments, then the new ones
        settle(journal.entries, archive)
        deferral_text, deferrals = self.ws.committed_deferrals(main)
        before = prior.variants if prior else {}
        outcome = reflect_generation(
            journal.entries,
            archive,
            penalties={cid: v.penalty for cid, v in before.items() if v.penalty},
            mutate_next={cid for cid, v in before.items() if v.mutate_next},
            failure_cache=prior.failure_cache if prior else [],
            rc=self.cfg.reflection,
            g=g,
        )
        for d in [*deferrals, *outcome.deferrals]:
            if d.variant in archive.meta and archive.meta[d.variant].status != "archived":
                archive.update(d.variant, status="deferred" if d.until_generation > g else "active")
        scores = self._scores(archive)
        # a copy: the journal keeps the state as planned, so a commit that is retried after
        # a crash learns from the generation once
        search = (journal.search or self.ws.committed_search(main)).model_copy(deep=True)
        if g > 0:
            said = learn(
                search,
                journal.entries,
                archive,
                scores,
                self.cfg.variation,
                parents=self.cfg.parents,
                generation=g,
                seed=self.cfg.seed,
            )
            for line in said:
                self.emit(Event("search", g, detail=line))
        heldout = heldout_scores(self.ws.heldout(main), self.goal_weights)
        summary = self._summary(journal, archive, scores, heldout)
        stats = build_stats(
            archive,
            scores,
            generation=g,
            weights=self.weights,
            window=self.cfg.selection.stats_window,
            penalties=outcome.penalties,
            mutate_next=outcome.mutate_next,
            generations=[*(prior.generations if prior else []), summary],
            failure_cache=outcome.failure_cache,
            capacity=prior.capacity if prior else None,  # set by `augnes capacity sweep`
            operators=self._operator_stats(journal, archive, scores, prior),
            heldout=heldout,
        )
        lineage = self.ws.lineage
        regret = build_regret(archive.judgments, generation=g)
        heldout_text, heldout_committed = self.ws.committed_heldout(main)
        seen = {j.key for j in heldout_committed}
        heldout_new = [j for j in self.ws.pending_heldout() if j.key not in seen]
        models: dict[str, bytes] = {}
        # world models trained meanwhile: on demand by evaluations, or in the background
        trained = [*(self.models.fresh.values() if self.models else ()), *self._learned(wait=False)]
        if trained:
            models = lineage_files(
                self.ws, committed_world_models(self.ws, main), trained, generation=g
            )
        appended = {
            lineage(name): (committed_text, records)
            for name, committed_text, records in (
                ("judgments.jsonl", text, new),
                ("deferred_strategies.jsonl", deferral_text, outcome.deferrals),
                ("heldout.jsonl", heldout_text, heldout_new),
            )
        }
        files: dict[str, bytes] = {}
        for path, (committed_text, records) in appended.items():
            ext = extend_jsonl(committed_text, records, source=path)
            files[path] = ext.text.encode()
            if ext.torn:  # kept beside the file, never dropped
                files[f"{path}.torn-g{g:03d}"] = ext.torn.encode()
            if ext.warning:
                aside = f"; it is kept in {path}.torn-g{g:03d}" if ext.torn else ""
                self.emit(Event("problem", g, detail=ext.warning + aside))
        tree = self.repo.write_files(
            main,
            {
                **files,
                lineage("strategy_stats.json"): dump_json(stats),
                lineage("regret.json"): dump_json(regret),
                lineage("search_state.json"): dump_json(search),
                lineage("plots/regret.svg"): regret_figure(regret).encode(),
                **models,
            },
        )
        subject, message = _message(journal)
        sha = self.repo.commit_tree(tree, parents=[main], message=message)
        # main and the archive refs of every variant evaluated here move together
        wanted = {archive_ref(e.candidate_id): e.commit for e in journal.entries if e.commit}
        have = self.repo.existing(list(wanted))
        self.repo.transaction(
            create={ref: c for ref, c in wanted.items() if ref not in have},
            move={
                f"refs/heads/{self.ws.base}": (sha, main),
                # a variant evaluated again after its first record was undone on main: its
                # archive ref names the commit recorded now
                **{ref: (c, have[ref]) for ref, c in wanted.items() if have.get(ref, c) != c},
            },
            reason=subject,
        )
        self._finish(journal)
        self._dashboard(journal, archive, scores, summary, heldout)
        self.emit(Event("committed", g, detail=subject, seconds=round(journal.wall_s, 3)))
        return summary

    def _operator_stats(
        self,
        journal: Journal,
        archive: Archive,
        scores: dict[str, VariantScore],
        prior: StrategyStatsFile | None,
    ) -> dict[str, OperatorStats]:
        before = prior.operators if prior else {}
        llm = (before.get("llm", OperatorStats()).llm or LLMUsage()).plus(journal.llm_usage)
        wasted = wasted_attempts(
            {
                op: before.get(op, OperatorStats()).invalid
                + journal.variation.get(op, {}).get("invalid", 0)
                for op in {*before, *journal.variation}
            },
            llm,
        )
        records = operator_records(archive, scores, wasted)
        share = shares(
            list(self.cfg.variation.operators), records, floor=self.cfg.variation.bandit_floor
        )
        return operator_stats(
            prior.operators if prior else {},
            journal.variation,
            archive,
            share,
            {op: (r.evaluated, r.improved) for op, r in records.items()},
            journal.llm_usage,
        )

    def _dashboard(
        self,
        journal: Journal,
        archive: Archive,
        scores: dict[str, VariantScore],
        summary: GenerationSummary,
        heldout: Mapping[str, HeldOut],
    ) -> None:
        board = sorted(
            (
                (cid, meta.strategy, meta.status, scores[cid])
                for cid, meta in archive.meta.items()
                if cid in scores and meta.status != "archived"
            ),
            key=lambda row: -row[3].selection_score,
        )[:10]
        decisions = [
            (e.candidate_id, bool(e.merged), e.decision)
            for e in journal.entries
            if e.decision is not None
        ]
        self.ws.forge.dashboard(
            title=DASHBOARD_TITLE,
            label=DASHBOARD_LABEL,
            body=dashboard(
                summary=summary,
                leaderboard=board,
                decisions=decisions,
                base=self.ws.base,
                heldout={cid: h.score for cid, h in heldout.items()},
                failures={e.candidate_id: e.failure for e in journal.entries if e.failure},
            ),
        )

    def _is_stats_commit(self, sha: str, g: int) -> bool:
        return ("Augnes-Generation", str(g)) in self.repo.trailers(sha) and self.repo.message(
            sha
        ).startswith(f"augnes(g{g:03d}): ")

    def _finish(self, journal: Journal) -> None:
        """Everything pending is now on main: publish main and the archive refs (a forge
        elsewhere sees them only now), empty the pending file, drop the journal."""
        refs = [archive_ref(e.candidate_id) for e in journal.entries if e.commit]
        self.ws.forge.publish(self.repo.root, [f"refs/heads/{self.ws.base}", *refs])
        atomic_write(self.ws.pending_path, b"")
        atomic_write(self.ws.pending_heldout_path, b"")
        self.ws.journal_path.unlink(missing_ok=True)

    def _summary(
        self,
        journal: Journal,
        archive: Archive,
        scores: dict[str, VariantScore],
        heldout: Mapping[str, HeldOut],
    ) -> GenerationSummary:
        elites = [cid for cid in archive.elites.values() if cid in scores]
        best = max(elites, key=lambda c: scores[c].selection_score) if elites else None
        shipped = max(elites, key=lambda c: (scores[c].benchmark_score, c), default=None)
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
            best_heldout_score=heldout[shipped].score
            if shipped is not None and shipped in heldout
            else None,
            avg_regret={k: round(v, 4) for k, v in sorted(regrets.items())},
            wall_s=round(journal.wall_s, 3),
            episode_s=round(sum(e.episode_s for e in journal.entries) + journal.heldout_s, 3),
        )


def settle(entries: Sequence[Entry], archive: Archive) -> None:
    """Statuses and decisions after the merges: one elite per strategy, on main."""
    for e in entries:
        if e.merged or e.baseline:
            for cid, meta in list(archive.meta.items()):
                if meta.strategy == e.strategy and meta.status == "elite" and cid != e.candidate_id:
                    archive.update(cid, status="active")
            archive.elites[e.strategy] = e.candidate_id
        if e.merged:
            archive.update(e.candidate_id, status="elite", decision="merged: " + (e.decision or ""))
        elif e.merged is False:
            archive.update(e.candidate_id, decision="closed: " + (e.decision or ""))


def reflect_generation(
    entries: Sequence[Entry],
    archive: Archive,
    *,
    penalties: Mapping[str, float],
    mutate_next: Iterable[str],
    failure_cache: Sequence[str],
    rc: ReflectionConfig,
    g: int,
) -> Outcome:
    """Reflection on a generation's variants, on top of what the records held before."""
    grouped = archive.by_variant()
    recent = {e.candidate_id: grouped.get(e.candidate_id, []) for e in entries}
    verdicts = reflect(
        recent, low_reward=rc.low_reward, penalty=rc.penalty, failure_limit=rc.failure_limit
    )
    outcome = Outcome(
        penalties=dict(penalties),
        mutate_next=set(mutate_next),
        failure_cache=list(failure_cache),
        deferrals=[],
    )
    for v in verdicts:
        outcome.penalties[v.candidate_id] = v.penalty
        outcome.mutate_next.add(v.candidate_id)
        meta = archive.meta[v.candidate_id]
        if v.failed_content:
            outcome.failure_cache.append(meta.content)
            archive.update(v.candidate_id, status="archived")
        if v.defer and meta.status != "elite":
            outcome.deferrals.append(
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
    for e in entries:
        for p in e.parents:
            outcome.mutate_next.discard(p)
    return outcome


def _message(journal: Journal) -> tuple[str, str]:
    """Subject and message of a generation's stats commit."""
    g = journal.generation
    if g == 0:
        subject = f"augnes(g000): baseline — evaluated {len(journal.entries)} seed variant(s)"
    else:
        merged = sum(1 for e in journal.entries if e.merged)
        closed = sum(1 for e in journal.entries if e.merged is False)
        subject = f"augnes(g{g:03d}): selection — merged {merged}, closed {closed}"
    lines = []
    for e in journal.entries:
        state = "merged" if e.merged else "closed" if e.merged is False else "baseline"
        lines.append(
            f"- {e.candidate_id} ({e.strategy}): {state}"
            + (f" — {e.decision}" if e.decision else "")
        )
    body = "\n".join(lines)
    return subject, f"{subject}\n\n{body}\n\nAugnes-Generation: {g}\nAugnes-Run: {journal.run_id}\n"
