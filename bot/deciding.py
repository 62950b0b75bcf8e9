"""Decide: score the children against their niche elites, then merge or close each pull
request with a report."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from bot.archive import Archive, paired_diffs, paired_intervals
from bot.candidates import branch_name
from bot.config import EvaluationConfig, SelectionConfig
from bot.forge import PIN, RERUN, STOP, HeadMoved
from bot.journal import Entry, Journal
from bot.loop_state import Event, LoopState
from bot.people import changed_since
from bot.report import REPORT_MARKER, report_comment
from bot.sandbox import CONTAINED
from bot.scoring import VariantScore, Weights
from bot.selection import Decision, Entrant, Rule, decide, rebase


class Deciding(LoopState):
    # the held-out evaluation is the evaluating phase's (the loop is made of both)
    _heldout: Callable[[Journal, Sequence[Entry]], None]

    def _heldout_of(self, journal: Journal, cid: str | None) -> float | None:
        """A variant's held-out benchmark_score, if it was ever evaluated there."""
        if cid is None:
            return None
        found = [j for j in self.ws.heldout(journal.base) if j.variant == cid]
        return found[0].benchmark_score if found else None

    # ---- select ----------------------------------------------------------------------------
    def _select(self, journal: Journal) -> None:
        archive = self._archive(journal)
        scores = self._comparison_scores(archive)
        children = [e for e in journal.entries if not e.baseline]
        elites = {name: scores[cid] for name, cid in archive.elites.items() if cid in scores}
        rule = rule_of(self.cfg.selection, self.ws.suite.holdout)
        entrants = entrants_of(children, archive, scores, self.cfg.evaluation)
        # a person changed a child's folder on main while the generation ran: merging now
        # would combine the two unjudged; the person's variant is benchmarked first
        touched = changed_since(
            self.repo,
            base=journal.base,
            main=self.ws.main_sha(),
            folders={self.ws.strategy_dir(e.strategy) for e in children},
        )
        entrants = [
            replace(
                x,
                invalid=f"a person changed {folder} on {self.ws.base} in {touched[folder][:7]} "
                "after this generation was planned; that variant is benchmarked next "
                "generation, and this child stays in the archive as a parent",
            )
            if (folder := self.ws.strategy_dir(e.strategy)) in touched and e.decision is None
            else x
            for x, e in zip(entrants, children, strict=True)
        ]
        decisions = decide(
            entrants,
            elites,
            rule=rule,
            rng=random.Random(f"{self.cfg.seed}:{journal.generation}:select"),
        )
        # the winners on the held-out seeds, after the decision and before the report: what
        # they score there is shown, never weighed
        self._heldout(
            journal,
            [
                e
                for e, d in zip(children, decisions, strict=False)
                if d.merge and e.decision is None and e.pr is not None
            ],
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
                    operator=e.operator,
                )
            )
        # merges on a forge elsewhere moved its base branch: the lineage commit goes on top
        self.ws.forge.sync(self.repo.root, self.ws.base)
        # One save for all: merging and closing are idempotent and the decisions are
        # recomputed identically after an interruption.
        self._save(journal)

    def _comparison_scores(self, archive: Archive) -> dict[str, VariantScore]:
        """Scores as the merge rule compares them (see `selection.compare_delta`)."""
        return comparison_scores(
            self._scores(archive),
            archive,
            weights=self.weights,
            compare_delta=self.cfg.selection.compare_delta,
        )

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
        grouped = archive.by_variant()
        comment = report_comment(
            candidate=e.candidate_id,
            child=scores[e.candidate_id],
            parent=scores.get(e.parents[0]) if e.parents else None,
            elite=scores.get(elite) if elite else None,
            elite_id=elite,
            decision=d,
            weights=self.weights,
            paired=paired_intervals(grouped.get(e.candidate_id, []), grouped.get(e.parents[0], []))
            if e.parents
            else None,
            note=_note(e),
            failure=e.failure,
            heldout=(e.heldout, self._heldout_of(journal, elite))
            if e.heldout is not None
            else None,
        )
        forge = self.ws.forge
        controls = set(forge.labels(e.pr)) & {STOP, PIN}
        if STOP in controls:  # a person took it over: no report, no merge, no close
            e.decision, e.merged = f"left alone: labelled {STOP}", False
            return
        if PIN in controls and not d.merge:  # a person wants it kept: reported, left open
            reason = f"not merged, left open ({PIN}): {d.reason}"
            forge.sticky_comment(e.pr, marker=REPORT_MARKER, body=f"{comment}\n\n**{reason}**")
            e.decision, e.merged = reason, False
            return
        forge.sticky_comment(e.pr, marker=REPORT_MARKER, body=comment)
        if d.merge:
            try:
                forge.merge(
                    e.pr,
                    head_sha=e.commit,
                    message=f"Merge {e.branch or branch_name(journal.generation, e.candidate_id)}: "
                    f"{e.summary}\n\nAugnes-Candidate: {e.candidate_id}\n"
                    f"Augnes-Generation: {journal.generation}\n",
                )
            except HeadMoved as moved:
                # humans win: someone pushed to the branch; what was benchmarked is not what
                # would merge, so it stays open and unmerged, and the report says why
                reason = f"not merged: {moved.message}"
                forge.sticky_comment(e.pr, marker=REPORT_MARKER, body=f"{comment}\n\n**{reason}**")
                e.decision, e.merged = reason, False
                return
            self._follow()  # the base branch moved: a checked-out work tree goes along
            forge.set_labels(e.pr, ["augnes", "augnes:selected"], drop=[RERUN])
        else:
            # the report above states the reason; labels and closing go in one step
            forge.close(e.pr, reason=d.reason, labels=["augnes", "augnes:rejected"], comment=False)
        e.decision, e.merged = d.reason, d.merge


def _note(e: Entry) -> str:
    if e.operator == "human" and not e.rerun:
        return (
            f"A person's commit {e.commit} on this branch, benchmarked as operator `human` "
            f"(a child of `{e.parents[0]}`): {e.summary}."
        )
    if e.rerun:
        return "Benchmarked again on request (`augnes:rerun`): decided anew against today's elite."
    return ""


def rule_of(s: SelectionConfig, holdout: frozenset[str]) -> Rule:
    return Rule(
        s.min_improvement,
        s.max_goal_regression,
        s.max_failure_rate,
        s.paired_test,
        s.alpha,
        holdout=holdout,
        found_margin=s.found_margin,
        margin=s.margin,
    )


def comparison_scores(
    scores: dict[str, VariantScore], archive: Archive, *, weights: Weights, compare_delta: str
) -> dict[str, VariantScore]:
    """Scores as the merge rule compares them: with "elite", every variant's delta_score is
    measured against its strategy's elite (see `selection.compare_delta`)."""
    if compare_delta == "parent":
        return scores
    reference = {
        name: scores[cid].benchmark_score for name, cid in archive.elites.items() if cid in scores
    }
    return {
        cid: rebase(s, reference=reference[archive.meta[cid].strategy], weights=weights)
        if archive.meta[cid].strategy in reference
        else s
        for cid, s in scores.items()
    }


def entrants_of(
    children: Sequence[Entry],
    archive: Archive,
    scores: Mapping[str, VariantScore],
    ev: EvaluationConfig,
) -> list[Entrant]:
    """The generation's evaluated children as the merge rule sees them: scores, paired
    differences to their elite, and why one cannot merge whatever it scored."""
    grouped = archive.by_variant()
    out = []
    for e in children:
        elite = archive.elites.get(e.strategy)
        invalid = None
        if e.clone:
            invalid = (
                f"clone: its first {ev.first_stage_episodes} episode(s) per goal gave exactly "
                f"its parent {e.parents[0]}'s results"
            )
        elif e.early_stopped:
            invalid = (
                f"early stop: after {ev.first_stage_episodes} episode(s) per goal its "
                f"reward_norm trailed the elite's by more than {ev.early_stop_margin}"
            )
        elif scores[e.candidate_id].fails == scores[e.candidate_id].uses:
            invalid = "invalid evaluation: every episode failed"
        contained = sorted(
            {str(j.failure) for j in grouped.get(e.candidate_id, []) if j.failure in CONTAINED}
        )
        if contained:
            invalid = f"invalid evaluation: the sandbox stopped it ({', '.join(contained)})"
        origin = None if e.baseline else archive.elite_for(e.strategy, e.parents)
        out.append(
            Entrant(
                e.candidate_id,
                e.strategy,
                scores[e.candidate_id],
                invalid,
                paired_diffs(grouped.get(e.candidate_id, []), grouped.get(elite, []))
                if elite
                else (),
                scores.get(origin) if origin and not elite else None,
            )
        )
    return out
