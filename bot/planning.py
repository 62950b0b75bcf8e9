"""Plan a generation: strategies on main that the archive does not know, then parents chosen
from the archive and mutated into children (reflect, choose parents, vary)."""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence

from bot.archive import Archive, VariantMeta
from bot.candidates import (
    candidate_id,
    candidate_strategy,
    content_hash,
    novelty_key,
    seed_id,
)
from bot.errors import AugnesError, EvaluationError
from bot.forge import RERUN, STOP, PullRequest
from bot.journal import Entry, Journal
from bot.loop_state import Event, LoopState, _now
from bot.manifest import MANIFEST, PARAMS, dump_params, niche_key, parse_params, renamed
from bot.operators import operators
from bot.operators.bandit import Record, choose, shares
from bot.operators.code import InvalidSource, mutate
from bot.operators.llm import (
    Answer,
    ChatClient,
    LLMError,
    Usage,
    choose_template,
    endpoint,
    propose,
    scores_text,
    templates,
)
from bot.parents import ArchiveEntry, choose_mate, choose_parents
from bot.reflect import active_deferrals
from bot.scoring import VariantScore, median
from bot.workspace import StrategySource

log = logging.getLogger(__name__)


class Planning(LoopState):
    _variation: dict[str, dict[str, int]] = {}
    _plan_scores: Mapping[str, VariantScore] = {}
    # the prompt-based operator this generation: its client (False: unavailable), templates
    # and what it has spent
    _llm: ChatClient | bool | None = None
    _llm_templates: dict[str, str] = {}
    _llm_usage: Usage = Usage()
    _llm_spent: bool = False
    _niche_dirs: dict[str, str] = {}
    _taken: set[str] = set()

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
            entries += self._reopened(g, archive, main)
            entries += self._vary(
                g, archive, sources, mutations, planned={e.content for e in entries}
            )
        return Journal(
            run_id=self.run_id,
            generation=g,
            base=main,
            started=_now(),
            entries=entries,
            variation=self._variation if g > 0 else {},
            llm_usage={
                "calls": self._llm_usage.calls,
                "tokens": self._llm_usage.tokens,
                "cost": round(self._llm_usage.cost, 6),
            }
            if g > 0 and self._llm_usage.calls
            else {},
        )

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
                    novelty=self._novelty(src.files),
                    files={},
                    hidden_dim=_hidden_dim(src),
                    baseline=True,
                    commit=main,
                )
            )
        return out

    def _reopened(self, g: int, archive: Archive, main: str) -> list[Entry]:
        """Open pull requests of earlier generations that ask to be benchmarked again: a
        person pushed to the branch (a candidate of operator `human`, child of the one the
        bot benchmarked there), or someone labelled it augnes:rerun. One read: the list of
        open pull requests, and only once the archive has any."""
        by_pr: dict[int, list[VariantMeta]] = {}
        for m in archive.meta.values():
            if m.pr is not None:
                by_pr.setdefault(m.pr, []).append(m)
        if not by_pr:
            return []
        out = []
        for pull in self.ws.forge.list_pulls(state="open"):
            known = by_pr.get(pull.number)
            if not known or STOP in pull.labels or pull.base != self.ws.base:
                continue
            here = [m for m in known if m.commit == pull.head_sha]
            if here:  # benchmarked as it stands
                if RERUN in pull.labels:
                    out.append(_again(here[-1], pull))
                    self.emit(
                        Event("planned", g, here[-1].candidate_id, f"{RERUN} on #{pull.number}")
                    )
                continue
            latest = max(known, key=lambda m: (m.generation, m.candidate_id))
            entry = self._human(g, archive, latest, pull, main)
            if entry is not None:
                out.append(entry)
                self.emit(Event("planned", g, entry.candidate_id, entry.summary, operator="human"))
        return out

    def _human(
        self, g: int, archive: Archive, latest: VariantMeta, pull: PullRequest, main: str
    ) -> Entry | None:
        """The head of a bot branch that someone else moved, as a candidate of its own."""
        head = pull.head_sha
        try:
            if not self.repo.has_commit(head):
                self.ws.forge.fetch(self.repo.root, f"refs/heads/{pull.branch}")
            strategy = candidate_strategy(
                self.repo, base=main, commit=head, strategies_dir=self.cfg.strategies_dir
            )
            if strategy != latest.strategy:
                raise AugnesError(f"it changes {strategy}, not {latest.strategy}")
            src = self.ws.read_strategy(head, strategy)
        except AugnesError as exc:
            self.emit(
                Event(
                    "problem",
                    g,
                    latest.candidate_id,
                    f"#{pull.number}: the commit {head[:10]} pushed to {pull.branch} is not "
                    f"benchmarked: {exc.message}",
                )
            )
            return None
        content = content_hash(src.files)
        cid = candidate_id(parents=[latest.candidate_id], operator="human", content=content)
        if cid in archive.meta:
            return None
        return Entry(
            candidate_id=cid,
            strategy=strategy,
            family=src.manifest.family,
            niche=niche_key(src.manifest, src.params),
            parents=[latest.candidate_id],
            operator="human",
            seed=0,
            summary=f"{self.repo.author(head)}'s commit {head[:10]} on {pull.branch}",
            content=content,
            novelty=self._novelty(src.files),
            files={},
            hidden_dim=_hidden_dim(src),
            commit=head,
            pr=pull.number,
            branch=pull.branch,
        )

    def _ask(
        self, first: StrategySource, parent: ArchiveEntry, rng: random.Random
    ) -> Answer | None:
        """One language-model child of `first`; None when the endpoint failed (the operator
        then rests for the rest of this generation); InvalidSource when every answer was
        refused. Every token is counted, refused answers' too."""
        assert isinstance(self._llm, ChatClient)
        name = choose_template(list(self._llm_templates), rng)
        score = self._plan_scores.get(parent.candidate_id)
        goals = {g: s.mean_reward_norm for g, s in score.goals.items()} if score else {}
        try:
            answer = propose(
                self._llm,
                self.cfg.llm,
                template_name=name,
                template=self._llm_templates[name],
                manifest=first.manifest,
                files=first.files,
                scores=scores_text(goals),
                allowed_imports=self.cfg.variation.allowed_imports,
                max_bytes=self.cfg.variation.max_source_bytes,
            )
        except InvalidSource as exc:
            self._llm_usage.add(getattr(exc, "usage", Usage()))
            raise
        except LLMError as exc:
            self._llm = False
            self.emit(Event("problem", -1, detail=f"operator llm rests this generation: {exc}"))
            return None
        self._llm_usage.add(answer.usage)
        return answer

    def _niche_folder(self, strategy: str, first: StrategySource, niche: str) -> str:
        """The folder a child of `strategy` landing in `niche` belongs to: its parent's when
        the niche is the same (or founding is off), the niche's folder when it has one, else
        a new folder the child founds, `<family>-<cell>`."""
        home = niche_key(first.manifest, first.params)
        if niche == home or not self.cfg.variation.found_niches:
            return strategy
        if niche in self._niche_dirs:
            return self._niche_dirs[niche]
        base = f"{first.manifest.family}-{niche.rsplit('/', 1)[-1]}"
        name, n = base, 2
        while name in self._taken:
            name, n = f"{base}-{n}", n + 1
        return name

    def _novelty(self, files: Mapping[str, bytes]) -> str:
        return novelty_key(files, digits=self.cfg.variation.novelty_digits, params_file=PARAMS)

    def _capacity(self) -> tuple[int, str]:
        """The largest world model new model-based children may ask for: the latest capacity
        decision's, else the configured capacity."""
        stats = self.ws.committed_stats(self.ws.main_sha())
        if stats is not None and stats.capacity is not None:
            c = stats.capacity
            return c.next_capacity, f"capacity decision: {c.decision}"
        return self.cfg.world_model.hidden_dim, "world_model.hidden_dim"

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
        self._variation = {}
        self._plan_scores = scores
        # MAP-Elites: each niche's elite lives in a strategy folder of its own on main
        self._niche_dirs = {
            niche_key(src.manifest, src.params): name for name, src in sorted(sources.items())
        }
        self._taken = set(sources)
        self._llm, self._llm_usage, self._llm_spent = None, Usage(), False
        # a variant no enabled operator can act on (no parameters, no code operators) would
        # take a child's slot and give none
        pool = [e for e in pool if self._applicable(archive, e, pool)]
        pc = self.cfg.parents
        elites = [e for e in pool if archive.meta[e.candidate_id].status == "elite"]
        best = max(elites, key=lambda e: (e.score, e.candidate_id), default=None)
        if pc.policy == "best":  # the v0.6 loop: the best elite is the only parent
            pool = [best] if best is not None else []
        if not pool:
            return []
        s_mid = median(e.score for e in pool) if pc.s_mid == "median" else float(pc.s_mid)
        rng = random.Random(f"{self.cfg.seed}:{g}:plan")
        known = archive.contents() | planned
        near = {m.novelty for m in archive.meta.values() if m.novelty}
        records = operator_records(archive, scores)
        entries: list[Entry] = []
        # a share of the children comes from the best elite (exploit), the rest from the
        # whole archive by DGM weights (explore)
        exploit = round(mutations * pc.elite_share) if pc.policy == "archive" else 0
        from_best = [best] * exploit if best is not None else []
        for parent in from_best + choose_parents(
            pool,
            count=mutations - len(from_best),
            k=pc.k,
            s_mid=s_mid,
            boost=pc.mutation_boost,
            rng=rng,
        ):
            share = shares(
                self._applicable(archive, parent, pool),
                records,
                floor=self.cfg.variation.bandit_floor,
            )
            for _ in range(self.cfg.variation.max_attempts if share else 0):
                op = choose(share, rng)
                op_seed = rng.randrange(2**31)
                tally = self._variation.setdefault(op, dict.fromkeys(TALLY, 0))
                tally["attempts"] += 1
                try:
                    entry = self._child(archive, parent, pool, op, op_seed, s_mid)
                except InvalidSource as exc:
                    tally["made"] += 1
                    tally["invalid"] += 1
                    log.debug("%s on %s: discarded (%s)", op, parent.candidate_id, exc)
                    continue
                if entry is None:
                    continue
                tally["made"] += 1
                if entry.content in failed:
                    tally["cached"] += 1
                    continue
                if (
                    entry.content in known
                    or entry.novelty in near
                    or entry.candidate_id in archive.meta
                ):
                    tally["duplicate"] += 1
                    continue
                tally["planned"] += 1
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
                        f"{self.cfg.variation.max_attempts} attempts",
                    )
                )
        return entries

    def _applicable(
        self, archive: Archive, parent: ArchiveEntry, pool: Sequence[ArchiveEntry]
    ) -> list[str]:
        """The enabled operators that can act on this parent."""
        meta = archive.meta[parent.candidate_id]
        src = self.ws.read_strategy(meta.commit, meta.strategy)
        entry_file = src.manifest.entry.split(":")[0]
        out: list[str] = []
        for name in self.cfg.variation.operators:
            if name in ("perturb", "crossover", "resample") and not src.manifest.params:
                continue
            if name == "crossover" and not any(
                e.niche == parent.niche and e.candidate_id != parent.candidate_id for e in pool
            ):
                continue
            if name.startswith("code-") and not entry_file.endswith(".py"):
                continue
            if name == "llm" and not self._llm_ready():
                continue
            out.append(name)
        return out

    def _llm_ready(self) -> bool:
        """Whether the prompt-based operator can run now: an endpoint is configured (said
        once, clearly, when not), it has not failed this generation, budget is left."""
        if self._llm is None:
            found = endpoint(self.cfg.llm)
            if found is None:
                self._llm = False
                self.emit(
                    Event(
                        "problem",
                        -1,
                        detail="operator llm is skipped: no chat endpoint configured (set "
                        "[tool.augnes.llm] base_url and model, or AUGNES_LLM_BASE_URL and "
                        "AUGNES_LLM_MODEL)",
                    )
                )
            else:
                self._llm = ChatClient(self.cfg.llm, base_url=found[0], model=found[1])
                self._llm_templates = templates(self.cfg.llm, self.repo.root)
        if self._llm is False:
            return False
        if self._llm_usage.tokens >= self.cfg.llm.budget_tokens:
            if not self._llm_spent:
                self._llm_spent = True
                self.emit(
                    Event(
                        "problem",
                        -1,
                        detail=f"operator llm: this generation's budget of "
                        f"{self.cfg.llm.budget_tokens} tokens is spent",
                    )
                )
            return False
        return True

    def _child(
        self,
        archive: Archive,
        parent: ArchiveEntry,
        pool: Sequence[ArchiveEntry],
        op: str,
        op_seed: int,
        s_mid: float,
    ) -> Entry | None:
        """A child of `parent` by operator `op`; None when the operator found nothing to
        change; InvalidSource when a code edit may not be evaluated."""
        rng = random.Random(op_seed)
        variation = self.cfg.variation
        meta = archive.meta[parent.candidate_id]
        first = self.ws.read_strategy(meta.commit, meta.strategy)
        parents = [parent.candidate_id]
        changed: dict[str, str] = {}
        tokens, cost = 0, 0.0
        if op in ("perturb", "crossover", "resample"):
            values = [first.params]
            if op == "crossover":
                same = [e for e in pool if e.niche == parent.niche]
                mate = choose_mate(
                    parent,
                    same,
                    k=self.cfg.parents.k,
                    s_mid=s_mid,
                    boost=self.cfg.parents.mutation_boost,
                    rng=rng,
                )
                if mate is None:
                    return None
                parents.append(mate.candidate_id)
                other = archive.meta[mate.candidate_id]
                values.append(self.ws.read_strategy(other.commit, other.strategy).params)
            ops = operators(sigma=variation.sigma, rate=variation.rate)
            child, summary = ops[op].apply(first.manifest, values, rng=rng)
            if first.manifest.world_model is not None:  # the capacity decision sets the ceiling
                cap, why = self._capacity()
                capped = first.manifest.capped(child, cap)
                if capped != child:
                    child = capped
                    summary += f"; model capacity capped at {cap} ({why})"
            changed[PARAMS] = dump_params(child)
        elif op == "llm":
            answer = self._ask(first, parent, rng)
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
            edit = mutate(
                op,
                first.files[entry_file].decode(),
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
        target = self._niche_folder(meta.strategy, first, niche)
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
            novelty=self._novelty(files),
            files=changed,
            tokens=tokens,
            cost=round(cost, 6),
            hidden_dim=hidden if isinstance(hidden := child.get("hidden_dim"), int) else None,
        )


TALLY = ("attempts", "made", "invalid", "duplicate", "cached", "planned")


def operator_records(archive: Archive, scores: Mapping[str, VariantScore]) -> dict[str, Record]:
    """Per operator: its evaluated children, and those that beat their first parent."""
    evaluated: dict[str, int] = {}
    improved: dict[str, int] = {}
    for cid, m in archive.meta.items():
        if not m.parents or cid not in scores or not scores[cid].uses:
            continue
        evaluated[m.operator] = evaluated.get(m.operator, 0) + 1
        parent = scores.get(m.parents[0])
        if parent is not None and scores[cid].benchmark_score > parent.benchmark_score:
            improved[m.operator] = improved.get(m.operator, 0) + 1
    return {op: Record(n, improved.get(op, 0)) for op, n in evaluated.items()}


def _again(m: VariantMeta, pull: PullRequest) -> Entry:
    """An archived candidate, to be benchmarked again (augnes:rerun)."""
    return Entry(
        candidate_id=m.candidate_id,
        strategy=m.strategy,
        family=m.family,
        niche=m.niche,
        parents=list(m.parents),
        operator=m.operator,
        seed=0,
        summary=m.summary,
        content=m.content,
        files={},
        hidden_dim=m.hidden_dim,
        commit=m.commit,
        pr=pull.number,
        branch=pull.branch,
        rerun=True,
    )


def _hidden_dim(src: StrategySource) -> int | None:
    value = src.params.get("hidden_dim")
    return value if isinstance(value, int) else None
