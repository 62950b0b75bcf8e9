"""The bot's loop in memory, on an exact fast evaluation path, for the efficacy benchmark.

Every decision is the bot's own code: the planner (parent choice, the operator bandit, the
operators, novelty and failure caches), the evaluation plan (stage one, early stop, clone
stop), the judgments, the merge rule, settling elites and reflection. What is left out is
the bookkeeping a real `augnes run` adds around them — branches, pull requests, lineage
commits, worker processes — which `overhead.py` measures. Evaluation goes through an
evaluator that returns the very episodes the sandboxed path would (see fastpack.py).
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.archive import Archive  # noqa: E402
from bot.candidates import content_hash, novelty_key, seed_id  # noqa: E402
from bot.cells import variant_cell  # noqa: E402
from bot.config import Config  # noqa: E402
from bot.deciding import comparison_scores, entrants_of, rule_of  # noqa: E402
from bot.evaluating import judgments_of, plan_job  # noqa: E402
from bot.evaluator import Episode  # noqa: E402
from bot.goals import Goal, Suite  # noqa: E402
from bot.journal import Entry  # noqa: E402
from bot.loop_state import meta_of  # noqa: E402
from bot.manifest import (  # noqa: E402
    MANIFEST,
    PARAMS,
    niche_key,
    parse_manifest,
    parse_params,
    read_strategy,
)
from bot.parallel import Plan, run_stages  # noqa: E402
from bot.planner import Planner  # noqa: E402
from bot.recording import reflect_generation, settle  # noqa: E402
from bot.reflect import active_deferrals  # noqa: E402
from bot.scoring import VariantScore, Weights  # noqa: E402
from bot.search_state import SearchState, learn  # noqa: E402
from bot.selection import decide  # noqa: E402
from bot.workspace import StrategySource  # noqa: E402


class Evaluate(Protocol):
    def __call__(self, source: StrategySource, plan: Plan) -> list[Episode]:
        """The episodes of `plan` for the strategy `source`, as the sandboxed path gives."""
        ...


def strategies_of(root: Path, suite: Suite) -> dict[str, StrategySource]:
    """The strategy folders under `root/strategies` that declare one of the suite's suites."""
    out = {}
    for folder in sorted((root / "strategies").iterdir()):
        if not (folder / MANIFEST).is_file():
            continue
        manifest, params = read_strategy(folder)
        if set(manifest.suites) & set(suite.names):
            files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
            out[folder.name] = StrategySource(folder.name, manifest, params, files)
    return out


@dataclass
class MemoryLoop:
    config: Config
    suite: Suite
    sources: dict[str, StrategySource]  # the strategies on "main"
    evaluate: Evaluate
    archive: Archive = field(default_factory=lambda: Archive({}, []))
    variants: dict[str, StrategySource] = field(default_factory=dict)
    generation: int = -1
    penalties: dict[str, float] = field(default_factory=dict)
    mutate_next: set[str] = field(default_factory=set)
    failure_cache: list[str] = field(default_factory=list)
    deferrals: list[tuple[str, int]] = field(default_factory=list)
    search: SearchState = field(default_factory=SearchState)
    said: list[str] = field(default_factory=list)  # what the search reported (restarts)
    _scored: tuple[int, dict[str, VariantScore]] | None = field(default=None, init=False)
    on_entry: Callable[[Entry], None] = lambda entry: None

    @property
    def weights(self) -> Weights:
        s = self.config.selection
        return Weights(mean=s.w_mean, advantage=s.w_advantage, delta=s.w_delta, formula=s.formula)

    @property
    def goal_weights(self) -> dict[str, float]:
        return self.suite.scored_weights()

    def scores(self) -> dict[str, VariantScore]:
        """Every variant's score; they change only when judgments arrive, so they are
        computed once per batch of judgments."""
        count = len(self.archive.judgments)
        if self._scored is None or self._scored[0] != count:
            scores = self.archive.scores(
                weights=self.weights,
                goal_weights=self.goal_weights,
                window=self.config.selection.stats_window,
            )
            self._scored = (count, scores)
        return self._scored[1]

    def goals(self, source: StrategySource) -> tuple[Goal, ...]:
        return self.suite.goals_for(source.manifest.suites)

    # ---- a generation --------------------------------------------------------------------
    def step(self, mutations: int) -> list[Entry]:
        """One generation, as `augnes run` does it; returns its entries."""
        g = self.generation + 1
        self.generation = g
        entries = self._baselines() if g == 0 else self._plan(g, mutations)
        for e in entries:
            self._evaluate(e, g)
        if g > 0:
            self._decide(entries, g)
        settle(entries, self.archive)
        outcome = reflect_generation(
            entries,
            self.archive,
            penalties=self.penalties,
            mutate_next=self.mutate_next,
            failure_cache=self.failure_cache,
            rc=self.config.reflection,
            g=g,
        )
        self.penalties, self.mutate_next = outcome.penalties, outcome.mutate_next
        self.failure_cache = outcome.failure_cache
        self.deferrals += [(d.variant, d.until_generation) for d in outcome.deferrals]
        for variant, until in self.deferrals:
            meta = self.archive.meta.get(variant)
            if meta is not None and meta.status != "archived":
                self.archive.update(variant, status="deferred" if until > g else "active")
        if g > 0:
            said = learn(
                self.search,
                entries,
                self.archive,
                self.scores(),
                self.config.variation,
                parents=self.config.parents,
                generation=g,
                seed=self.config.seed,
            )
            self.said += [f"g{g}: {line}" for line in said]
        return entries

    def _baselines(self) -> list[Entry]:
        out = []
        for name, src in sorted(self.sources.items()):
            content = content_hash(src.files)
            out.append(
                Entry(
                    candidate_id=seed_id(name, content),
                    strategy=name,
                    family=src.manifest.family,
                    niche=niche_key(src.manifest, src.params),
                    parents=[],
                    operator="seed",
                    seed=0,
                    summary="seed",
                    content=content,
                    novelty=self._novelty(src.files),
                    files={},
                    baseline=True,
                )
            )
        for e in out:
            self.variants[e.candidate_id] = self.sources[e.strategy]
        return out

    def _plan(self, g: int, mutations: int) -> list[Entry]:
        planner = Planner(
            config=self.config,
            archive=self.archive,
            scores=self.scores(),
            sources=self.sources,
            read=lambda m: self.variants[m.candidate_id],
            generation=g,
            deferred=active_deferrals(self.deferrals, generation=g),
            boosted=set(self.mutate_next),
            failed=set(self.failure_cache),
            state=self.search,
        )
        entries = planner.children(mutations, planned=set())
        for e in entries:
            first = self.variants[e.parents[0]]
            files = {**first.files, **{k: v.encode() for k, v in e.files.items()}}
            manifest = parse_manifest(files[MANIFEST].decode(), source=MANIFEST)
            params = parse_params(files[PARAMS].decode(), manifest, source=PARAMS)
            self.variants[e.candidate_id] = StrategySource(e.strategy, manifest, params, files)
        return entries

    def _evaluate(self, e: Entry, g: int) -> None:
        e.commit = e.candidate_id  # no git here: the id stands for the commit
        self.archive.add(meta_of(e, g))
        source = self.variants[e.candidate_id]
        goals = self.goals(source)
        job = plan_job(e, self.archive, self.suite, goals, self.config.evaluation, Path("."))
        episodes, stop = run_stages(job, lambda plan: self.evaluate(source, plan))
        e.evaluated, e.early_stopped, e.clone = True, stop is not None, stop == "clone"
        judgments = judgments_of(
            e,
            episodes,
            self.archive,
            suite=self.suite,
            goal_weights=self.goal_weights,
            goals=goals,
            generation=g,
            run_id="memory",
            window=self.config.selection.stats_window,
        )
        self.archive.add_judgments(judgments)
        e.cell = variant_cell(
            self.archive.by_variant().get(e.candidate_id, []),
            source.manifest,
            source.params,
            self.suite.descriptors,
        )
        self.archive.update(
            e.candidate_id, early_stopped=e.early_stopped, clone=e.clone, cell=e.cell
        )
        if e.baseline:
            self.archive.elites[e.strategy] = e.candidate_id
        self.on_entry(e)

    def _decide(self, entries: Sequence[Entry], g: int) -> None:
        scores = comparison_scores(
            self.scores(),
            self.archive,
            weights=self.weights,
            compare_delta=self.config.selection.compare_delta,
        )
        children = [e for e in entries if not e.baseline]
        elites = {n: scores[c] for n, c in self.archive.elites.items() if c in scores}
        decisions = decide(
            entrants_of(children, self.archive, scores, self.config.evaluation),
            elites,
            rule=rule_of(self.config.selection, self.suite.holdout),
            rng=random.Random(f"{self.config.seed}:{g}:select"),
        )
        for e, d in zip(children, decisions, strict=True):
            e.decision, e.merged = d.reason, d.merge
            if d.merge:
                self.sources[e.strategy] = self.variants[e.candidate_id]

    def _novelty(self, files: Mapping[str, bytes]) -> str:
        return novelty_key(files, digits=self.config.variation.novelty_digits, params_file=PARAMS)

    # ---- what it would ship --------------------------------------------------------------
    def shipped(self) -> str | None:
        """The elite on main with the highest benchmark_score: what a user would take."""
        scores = self.scores()
        elites = [c for c in self.archive.elites.values() if c in scores]
        return max(elites, key=lambda c: (scores[c].benchmark_score, c), default=None)
