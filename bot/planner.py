"""Choose parents and make their children: the search's decisions for one generation, over
an archive in memory. Nothing here touches git, the forge or the sandbox — the loop hands it
what it read from `main`, and the efficacy benchmark drives the very same planner on its own
records."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.archive import Archive, VariantMeta
from bot.candidates import candidate_id, content_hash, novelty_key
from bot.cells import cell_elites
from bot.config import Config
from bot.journal import Entry
from bot.loop_state import Event
from bot.manifest import MANIFEST, PARAMS, dump_params, niche_key, parse_params, renamed
from bot.operators import Context, operators
from bot.operators.bandit import Record, choose, shares
from bot.operators.cmaes import CmaEs
from bot.operators.code import InvalidSource, mutate
from bot.operators.llm import Answer
from bot.parents import ArchiveEntry, choose_mate, choose_parents
from bot.records import LLMUsage
from bot.report import untrusted_text
from bot.scoring import VariantScore, median
from bot.search_state import SearchState, complete_population, fitness, members
from bot.workspace import StrategySource

log = logging.getLogger(__name__)

TALLY = ("attempts", "made", "invalid", "duplicate", "cached", "planned")
PARAMETER_OPERATORS = ("perturb", "crossover", "resample", "global", "cma", "design")
WORST = 2.0  # a CMA-ES sample that was never evaluated (its content failed before)


class LanguageModel(Protocol):
    """The prompt-based operator, as the planner sees it (the loop owns the client)."""

    def ready(self) -> bool:
        """Whether it can answer now (an endpoint, budget left, not failed)."""
        ...

    def ask(
        self,
        first: StrategySource,
        parent: ArchiveEntry,
        scores: Mapping[str, VariantScore],
        rng: random.Random,
    ) -> Answer | None:
        """A child of `first`, None when the endpoint failed; raises InvalidSource when every
        answer was refused."""
        ...


@dataclass
class Planner:
    """One generation's variation. `read` gives any archived variant's strategy folder;
    `sources` are the strategies on main."""

    config: Config
    archive: Archive
    scores: Mapping[str, VariantScore]
    sources: Mapping[str, StrategySource]
    read: Callable[[VariantMeta], StrategySource]
    generation: int
    emit: Callable[[Event], None] = lambda event: None
    deferred: set[str] = field(default_factory=set)
    boosted: set[str] = field(default_factory=set)  # reflection marked them for mutation
    failed: set[str] = field(default_factory=set)  # contents that failed before
    # per operator: attempts discarded as invalid in earlier generations (the bandit's cost)
    wasted: Mapping[str, int] = field(default_factory=dict)
    capacity: Callable[[], tuple[int, str]] | None = None  # world-model ceiling and why
    llm: LanguageModel | None = None
    # what the search learnt so far; the planner updates it as it hands out design points
    # and CMA-ES samples, and the journal keeps it as planned
    state: SearchState = field(default_factory=SearchState)
    variation: dict[str, dict[str, int]] = field(default_factory=dict)  # per operator
    # `augnes run --strategy NAME`: children only of these strategies' variants (all if empty)
    focus: frozenset[str] = frozenset()
    _niche_dirs: dict[str, str] = field(default_factory=dict, init=False)
    _taken: set[str] = field(default_factory=set, init=False)

    def pool(self) -> list[ArchiveEntry]:
        """The variants children may come from, with their scores and children so far."""
        children = self.archive.children()
        pool = [
            ArchiveEntry(
                cid,
                m.family,
                m.strategy,
                self.scores[cid].selection_score,
                children.get(cid, 0),
                cid in self.boosted,
            )
            for cid, m in sorted(self.archive.meta.items())
            if m.status in ("elite", "active")
            and cid not in self.deferred
            and m.strategy in self.sources
            and (not self.focus or m.strategy in self.focus)
            # a child stopped after stage one (it trailed, or cloned its parent) is no
            # stepping stone: what it shows is its parent's, or worse
            and (m.status == "elite" or not m.early_stopped)
        ]
        # the best `pool_size` by S and every elite: a stepping stone far below the best
        # would otherwise draw children for as long as it has few
        ranked = sorted(pool, key=lambda e: (-e.score, e.candidate_id))
        keep = {e.candidate_id for e in ranked[: self.config.parents.pool_size]}
        pool = [
            e
            for e in pool
            if e.candidate_id in keep or self.archive.meta[e.candidate_id].status == "elite"
        ]
        # a variant no enabled operator can act on (no parameters, no code operators) would
        # take a child's slot and give none
        return [e for e in pool if self.applicable(e, pool)]

    def say_unparented(self, pool: Sequence[ArchiveEntry]) -> None:
        """A strategy on main none of whose variants may be a parent because its elite
        failed is said, with the failure's last line: otherwise it only gets no children."""
        parented = {e.niche for e in pool}
        for name in sorted(self.sources):
            if name in parented or (self.focus and name not in self.focus):
                continue
            meta = self.archive.meta.get(self.archive.elites.get(name, ""))
            if meta is None or not meta.failure or meta.status != "archived":
                continue
            lines = [line for line in untrusted_text(meta.failure).splitlines() if line.strip()]
            self.emit(
                Event(
                    "problem",
                    self.generation,
                    meta.candidate_id,
                    f"strategy {name} gets no children: its elite {meta.candidate_id} failed "
                    f"({lines[-1].strip() if lines else 'no reason given'}); fix "
                    f"{self.config.strategies_dir}/{name}/, check it with `augnes try "
                    f"{self.config.strategies_dir}/{name}`, and commit",
                )
            )

    def cell_elites(self, pool: Sequence[ArchiveEntry]) -> dict[str, str]:
        """Per (strategy, behaviour cell), the pool's best variant."""
        meta = self.archive.meta
        return cell_elites(
            {e.candidate_id: (e.niche, meta[e.candidate_id].cell, e.score) for e in pool}
        )

    def children(self, mutations: int, *, planned: set[str]) -> list[Entry]:
        """Up to `mutations` new children; `planned` holds contents already in this plan."""
        archive, g = self.archive, self.generation
        # MAP-Elites: each niche's elite lives in a strategy folder of its own on main
        self._niche_dirs = {
            niche_key(src.manifest, src.params): name for name, src in sorted(self.sources.items())
        }
        self._taken = set(self.sources)
        pool = self.pool()
        self.say_unparented(pool)
        pc = self.config.parents
        elites = [e for e in pool if archive.meta[e.candidate_id].status == "elite"]
        best = max(elites, key=lambda e: (e.score, e.candidate_id), default=None)
        if pc.policy == "best":  # the v0.6 loop: the best elite is the only parent
            pool = [best] if best is not None else []
        if not pool:
            return []
        s_mid = median(e.score for e in pool) if pc.s_mid == "median" else float(pc.s_mid)
        rng = random.Random(f"{self.config.seed}:{g}:plan")
        known = archive.contents() | planned
        near = {m.novelty for m in archive.meta.values() if m.novelty}
        records = operator_records(archive, self.scores, self.wasted)
        entries: list[Entry] = []
        variation = self.config.variation
        # a newly added strategy's elite first (see `newcomers`), then the usual choice
        newcomers = self.newcomers(pool, mutations) if pc.policy == "archive" else []
        chosen = [(e, self.newcomer_island(k)) for k, e in enumerate(newcomers)]
        chosen += self.parents(pool, best, mutations - len(newcomers), s_mid=s_mid, rng=rng)
        for parent, island in chosen:
            context = self.context(parent)
            share = shares(self.applicable(parent, pool), records, floor=variation.bandit_floor)
            cma_turn = (
                variation.cma_share > 0
                and "cma" in share
                and context.state.restarts > 0
                and self.children_of(parent.niche) >= variation.cma_after
                and rng.random() < variation.cma_share
            )
            for _ in range(variation.max_attempts if share or self.forced(parent, context) else 0):
                forced = self.forced(parent, context) or (
                    "cma" if cma_turn and self.cma_ready(parent, context) else None
                )
                if not forced and not share:
                    break
                op = forced or choose(share, rng)
                op_seed = rng.randrange(2**31)
                tally = self.variation.setdefault(op, dict.fromkeys(TALLY, 0))
                tally["attempts"] += 1
                try:
                    entry = self.child(parent, pool, op, op_seed, s_mid, context)
                except InvalidSource as exc:
                    tally["made"] += 1
                    tally["invalid"] += 1
                    log.debug("%s on %s: discarded (%s)", op, parent.candidate_id, exc)
                    if op == "llm":
                        share = self._without_llm(share, parent, str(exc))
                    continue
                if entry is None:
                    if op == "llm":
                        share = self._without_llm(share, parent, "the endpoint failed")
                    continue
                tally["made"] += 1
                if entry.content in self.failed:
                    tally["cached"] += 1
                    self._unevaluated(entry, context, WORST)
                    continue
                if (
                    entry.content in known
                    or entry.novelty in near
                    or entry.candidate_id in archive.meta
                ):
                    tally["duplicate"] += 1
                    self._unevaluated(entry, context, self._known_fitness(entry))
                    continue
                tally["planned"] += 1
                if forced == "design" and context.state.explore:
                    context.state.explore -= 1
                if island is not None:
                    self.state.islands[entry.candidate_id] = [island]
                known.add(entry.content)
                near.add(entry.novelty)
                entries.append(entry)
                self.emit(Event("planned", g, entry.candidate_id, entry.summary, operator=op))
                break
            else:
                self.emit(
                    Event(
                        "problem",
                        g,
                        detail=f"no new child of {parent.candidate_id} after "
                        f"{variation.max_attempts} attempts",
                    )
                )
        return entries

    def parents(
        self,
        pool: Sequence[ArchiveEntry],
        best: ArchiveEntry | None,
        mutations: int,
        *,
        s_mid: float,
        rng: random.Random,
    ) -> list[tuple[ArchiveEntry, int | None]]:
        """Each child's parent (and island): a share from the best elite (exploit), the
        rest by DGM weights (explore) — with islands, island by island, each from its own
        variants and its own best."""
        pc = self.config.parents
        if pc.islands < 2 or pc.policy == "best":
            exploit = round(mutations * pc.elite_share) if pc.policy == "archive" else 0
            from_best = [best] * exploit if best is not None else []
            drawn = choose_parents(
                pool, count=mutations - len(from_best), k=pc.k, s_mid=s_mid,
                boost=pc.mutation_boost, rng=rng,
            )  # fmt: skip
            return [(p, None) for p in from_best + drawn]
        out: list[tuple[ArchiveEntry, int | None]] = []
        for k in range(mutations):  # one island after another, from a different one each time
            island = (self.generation + k) % pc.islands
            mine = [e for e in pool if island in members(self.state, e.candidate_id, pc.islands)]
            if not mine:
                continue
            top = max(mine, key=lambda e: (e.score, e.candidate_id))
            if rng.random() < pc.elite_share:
                out.append((top, island))
                continue
            drawn = choose_parents(
                mine, count=1, k=pc.k, s_mid=s_mid, boost=pc.mutation_boost, rng=rng
            )
            out.append((drawn[0], island))
        return out

    def newcomer_island(self, k: int) -> int | None:
        """With islands, the `k`th newcomer's child joins an island as any child does."""
        islands = self.config.parents.islands
        return (self.generation + k) % islands if islands >= 2 else None

    def newcomers(self, pool: Sequence[ArchiveEntry], mutations: int) -> list[ArchiveEntry]:
        """The elites of strategies a person committed whose variants have had fewer than
        `parents.newcomer_children` children, fewest first: one child each this generation,
        up to half of the generation's children."""
        wanted = self.config.parents.newcomer_children
        if not wanted or mutations < 1:
            return []
        meta = self.archive.meta
        had: dict[str, int] = {}
        for m in meta.values():
            if m.parents and m.parents[0] in meta and m.operator != "human":
                folder = meta[m.parents[0]].strategy
                had[folder] = had.get(folder, 0) + 1
        # folders a person committed (their first variant has no parent); a niche the
        # bot founded is a child's, explored as its parent's family is
        committed = {m.strategy for m in meta.values() if not m.parents}
        elites = [
            e
            for e in pool
            if meta[e.candidate_id].status == "elite"
            and e.niche in committed
            and had.get(e.niche, 0) < wanted
        ]
        elites.sort(key=lambda e: (had.get(e.niche, 0), -e.score, e.candidate_id))
        return elites[: max(1, mutations // 2)]

    def applicable(self, parent: ArchiveEntry, pool: Sequence[ArchiveEntry]) -> list[str]:
        """The enabled operators that can act on this parent."""
        meta = self.archive.meta[parent.candidate_id]
        src = self.read(meta)
        entry_file = src.manifest.entry.split(":")[0]
        out: list[str] = []
        for name in self.config.variation.operators:
            if name == "design":  # never the bandit's: see `forced`
                continue
            if name in PARAMETER_OPERATORS and not src.manifest.params:
                continue
            if name == "crossover" and not any(
                e.niche == parent.niche and e.candidate_id != parent.candidate_id for e in pool
            ):
                continue
            if name.startswith("code-") and not entry_file.endswith(".py"):
                continue
            if name == "llm" and (self.llm is None or not self.llm.ready()):
                continue
            if name == "cma" and not self.cma_ready(parent, self.context(parent)):
                continue
            out.append(name)
        return out

    def context(self, parent: ArchiveEntry) -> Context:
        """The search state the operators see for `parent`'s niche (its strategy folder)."""
        elite = self.archive.elites.get(parent.niche)
        return Context(
            niche=parent.niche,
            family=parent.family,
            state=self.state.niche(parent.niche),
            search=self.state,
            seed=self.config.seed,
            elite=self.read(self.archive.meta[elite]).params
            if elite in self.archive.meta
            else None,
        )

    def _without_llm(
        self, share: dict[str, float], parent: ArchiveEntry, why: str
    ) -> dict[str, float]:
        """A child gets one llm attempt (its calls bounded by llm.max_retries): after one
        that gave nothing usable, the child comes from the other operators, or not at all."""
        rest = {k: v for k, v in share.items() if k != "llm"}
        then = (
            "the child comes from the other operators"
            if rest
            else "no other operator is enabled: this generation has one child fewer"
        )
        self.emit(
            Event(
                "problem",
                self.generation,
                parent.candidate_id,
                f"operator llm gave no usable child of {parent.candidate_id} ({why}); {then}",
            )
        )
        return rest

    def children_of(self, niche: str) -> int:
        """How many children the niche (a strategy folder) has had, evaluated or not."""
        return sum(1 for m in self.archive.meta.values() if m.strategy == niche and m.parents)

    def cma_ready(self, parent: ArchiveEntry, context: Context) -> bool:
        """Whether the niche's CMA-ES run has a sample left to hand out to `parent`."""
        manifest = self.read(self.archive.meta[parent.candidate_id]).manifest
        return CmaEs().available(manifest, context)

    def forced(self, parent: ArchiveEntry, context: Context) -> str | None:
        """ "design" while the family has design points to go (its first children) or the
        niche owes some after a restart; otherwise the bandit chooses."""
        variation = self.config.variation
        if not variation.design_points or "design" not in variation.operators:
            return None
        if not self.read(self.archive.meta[parent.candidate_id]).manifest.params:
            return None
        used = self.state.designs.get(parent.family, 0)
        if used < variation.design_points or context.state.explore > 0:
            return "design"
        return None

    def _unevaluated(self, entry: Entry, context: Context, value: float) -> None:
        """A CMA-ES sample that will not be evaluated still needs a result for its run."""
        run = context.state.cma
        if entry.cma_slot is None or run is None or entry.cma_slot >= len(run.current):
            return
        run.current[entry.cma_slot] = value
        complete_population(run)

    def _known_fitness(self, entry: Entry) -> float:
        """The result of the known variant a duplicate repeats, or WORST if none has one."""
        for cid, m in self.archive.meta.items():
            same = m.content == entry.content or m.novelty == entry.novelty
            if same and cid in self.scores and self.scores[cid].uses:
                return fitness(self.scores[cid], stopped=m.early_stopped)
        return WORST

    def child(
        self,
        parent: ArchiveEntry,
        pool: Sequence[ArchiveEntry],
        op: str,
        op_seed: int,
        s_mid: float,
        context: Context | None = None,
    ) -> Entry | None:
        """A child of `parent` by operator `op`; None when the operator found nothing to
        change; InvalidSource when a code edit may not be evaluated."""
        rng = random.Random(op_seed)
        variation = self.config.variation
        meta = self.archive.meta[parent.candidate_id]
        first = self.read(meta)
        parents = [parent.candidate_id]
        changed: dict[str, str] = {}
        tokens, cost = 0, 0.0
        if op in PARAMETER_OPERATORS:
            values = [first.params]
            if op == "crossover":
                same = [e for e in pool if e.niche == parent.niche]
                mate = choose_mate(
                    parent,
                    same,
                    k=self.config.parents.k,
                    s_mid=s_mid,
                    boost=self.config.parents.mutation_boost,
                    rng=rng,
                )
                if mate is None:
                    return None
                parents.append(mate.candidate_id)
                values.append(self.read(self.archive.meta[mate.candidate_id]).params)
            ops = operators(
                sigma=variation.sigma,
                rate=variation.rate,
                design=variation.design,
                cma_sigma=variation.cma_sigma,
                cma_popsize=variation.cma_popsize,
            )
            context = context or self.context(parent)
            context.slot = None
            child, summary = ops[op].apply(first.manifest, values, rng=rng, context=context)
            if op == "cma" and context.slot is None:
                return None
            if first.manifest.world_model is not None and self.capacity is not None:
                cap, why = self.capacity()  # the capacity decision sets the ceiling
                capped = first.manifest.capped(child, cap)
                if capped != child:
                    child = capped
                    summary += f"; model capacity capped at {cap} ({why})"
            changed[PARAMS] = dump_params(child)
        elif op == "llm":
            assert self.llm is not None
            answer = self.llm.ask(first, parent, self.scores, rng)
            if answer is None:
                return None
            changed, summary = answer.files, f"llm ({answer.template}): {answer.summary}"
            child = (
                parse_params(changed[PARAMS], first.manifest, source=PARAMS)
                if PARAMS in changed
                else first.params
            )
            tokens, cost = answer.usage.tokens, answer.usage.cost
        else:
            entry_file = first.manifest.entry.split(":")[0]
            try:
                source = first.files[entry_file].decode()
            except UnicodeDecodeError:  # not Python source a code operator could edit
                return None
            edit = mutate(
                op,
                source,
                rng=rng,
                sigma=variation.sigma,
                allowed_imports=variation.allowed_imports,
                max_bytes=variation.max_source_bytes,
            )
            if edit is None:
                return None
            changed[entry_file], summary = edit.text, f"{entry_file}: {edit.summary}"
            child = first.params
        niche = niche_key(first.manifest, child)
        target = self.niche_folder(meta.strategy, first, niche)
        if target != meta.strategy:  # another niche: its folder, or a new one it founds
            changed[MANIFEST] = renamed(first.files[MANIFEST].decode(), target)
            summary += f"; niche {niche} ({'new folder' if target not in self._taken else 'its folder'} strategies/{target})"
        files = {**first.files, **{k: v.encode() for k, v in changed.items()}}
        content = content_hash(files)
        return Entry(
            candidate_id=candidate_id(parents=parents, operator=op, content=content),
            strategy=target,
            family=first.manifest.family,
            niche=niche,
            parents=parents,
            operator=op,
            seed=op_seed,
            summary=summary,
            content=content,
            novelty=self.novelty(files),
            files=changed,
            tokens=tokens,
            cost=round(cost, 6),
            hidden_dim=hidden if isinstance(hidden := child.get("hidden_dim"), int) else None,
            cma_niche=meta.strategy if op == "cma" else None,
            cma_slot=context.slot if op == "cma" and context is not None else None,
        )

    def niche_folder(self, strategy: str, first: StrategySource, niche: str) -> str:
        """The folder a child of `strategy` landing in `niche` belongs to: its parent's when
        the niche is the same (or founding is off), the niche's folder when it has one, else
        a new folder the child founds, `<family>-<cell>`."""
        home = niche_key(first.manifest, first.params)
        if niche == home or not self.config.variation.found_niches:
            return strategy
        if niche in self._niche_dirs:
            return self._niche_dirs[niche]
        base = f"{first.manifest.family}-{niche.rsplit('/', 1)[-1]}"
        name, n = base, 2
        while name in self._taken:
            name, n = f"{base}-{n}", n + 1
        return name

    def novelty(self, files: Mapping[str, bytes]) -> str:
        return novelty_key(files, digits=self.config.variation.novelty_digits, params_file=PARAMS)


def wasted_attempts(invalid: Mapping[str, int], llm: LLMUsage | None) -> dict[str, int]:
    """What each operator spent without a child, in attempts: its `invalid` tally, except
    that the language model's attempts cost what they cost — every call that gave no child
    (refused, or the endpoint failed) counts, so an attempt of two refused calls costs two."""
    out = dict(invalid)
    if llm is not None and llm.calls:
        out["llm"] = max(out.get("llm", 0), llm.calls - llm.usable)
    return out


def operator_records(
    archive: Archive, scores: Mapping[str, VariantScore], wasted: Mapping[str, int] | None = None
) -> dict[str, Record]:
    """Per operator: its evaluated children, those that beat their first parent, and its
    attempts `wasted` (discarded as invalid, as the operator stats count them)."""
    evaluated: dict[str, int] = {}
    improved: dict[str, int] = {}
    for cid, m in archive.meta.items():
        if not m.parents or cid not in scores or not scores[cid].uses:
            continue
        evaluated[m.operator] = evaluated.get(m.operator, 0) + 1
        parent = scores.get(m.parents[0])
        if parent is not None and scores[cid].benchmark_score > parent.benchmark_score:
            improved[m.operator] = improved.get(m.operator, 0) + 1
    lost = wasted or {}
    return {
        op: Record(evaluated.get(op, 0), improved.get(op, 0), lost.get(op, 0))
        for op in sorted({*evaluated, *(k for k, v in lost.items() if v)})
    }
