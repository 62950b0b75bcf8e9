"""Plan a generation: strategies on main that the archive does not know, then parents chosen
from the archive and mutated into children (reflect, choose parents, vary)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from bot.archive import Archive, VariantMeta
from bot.candidates import candidate_id, candidate_strategy, content_hash, seed_id
from bot.errors import AugnesError, EvaluationError
from bot.forge import RERUN, STOP, PullRequest
from bot.journal import Entry, Journal
from bot.loop_state import Event, LoopState, _now
from bot.manifest import PARAMS, dump_params, niche_key
from bot.operators import operators
from bot.parents import ArchiveEntry, choose_mate, choose_parents
from bot.reflect import active_deferrals
from bot.scoring import median
from bot.workspace import StrategySource


class Planning(LoopState):
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
                self.emit(Event("planned", g, entry.candidate_id, entry.summary))
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
            files={},
            hidden_dim=_hidden_dim(src),
            commit=head,
            pr=pull.number,
            branch=pull.branch,
        )

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
        allowed = self.cfg.variation.operators
        operator = ops["perturb"]
        rate = self.cfg.variation.crossover_rate if "perturb" in allowed else 1.0
        if "crossover" in allowed and rng.random() < rate:
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
        if operator.name not in allowed:  # crossover only, and no mate in this niche
            return None
        child, summary = operator.apply(first.manifest, values, rng=rng)
        if first.manifest.world_model is not None:  # the capacity decision sets the ceiling
            cap, why = self._capacity()
            capped = first.manifest.capped(child, cap)
            if capped != child:
                child = capped
                summary += f"; model capacity capped at {cap} ({why})"
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
