"""Plan a generation: strategies on main that the archive does not know, then parents chosen
from the archive and mutated into children (reflect, choose parents, vary)."""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping

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
from bot.manifest import PARAMS, niche_key
from bot.operators.llm import (
    USABLE,
    Answer,
    Call,
    ChatClient,
    LLMError,
    Usage,
    choose_template,
    endpoint,
    propose,
    scores_text,
    templates,
)
from bot.parents import ArchiveEntry
from bot.planner import Planner, wasted_attempts
from bot.records import LLMUsage, TemplateUsage
from bot.reflect import active_deferrals
from bot.scoring import VariantScore
from bot.search_state import SearchState
from bot.workspace import StrategySource

log = logging.getLogger(__name__)


class Planning(LoopState):
    _variation: dict[str, dict[str, int]] = {}
    _search: SearchState | None = None  # the search state as this generation planned it
    # the prompt-based operator this generation: its client (False: unavailable), templates
    # and what it has spent
    _llm: ChatClient | bool | None = None
    _llm_templates: dict[str, str] = {}
    _llm_usage: Usage = Usage()
    _llm_spent: bool = False
    _llm_calls: list[tuple[str, Call]] = []  # (parent, call) of this generation, in order
    _llm_generation: int = 0

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
            llm_usage=llm_tally(self._llm_calls) if g > 0 else LLMUsage(),
            search=self._search if g > 0 else None,
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
        self,
        first: StrategySource,
        parent: ArchiveEntry,
        scores: Mapping[str, VariantScore],
        rng: random.Random,
    ) -> Answer | None:
        """One language-model child of `first`; None when the endpoint failed (the operator
        then rests for the rest of this generation); InvalidSource when every answer was
        refused. Every token is counted, refused answers' too."""
        assert isinstance(self._llm, ChatClient)
        name = choose_template(list(self._llm_templates), rng)
        score = scores.get(parent.candidate_id)
        goals = {g: s.mean_reward_norm for g, s in score.goals.items()} if score else {}

        def told(call: Call) -> None:
            self._llm_calls.append((parent.candidate_id, call))
            u = call.usage
            said = (
                "a usable child"
                if call.outcome == USABLE
                else f"{call.outcome} ({call.reason})"
                if call.outcome == "endpoint failed"
                else f"refused, {call.outcome} ({call.reason})"
            )
            self.emit(
                Event(
                    "llm",
                    self._llm_generation,
                    parent.candidate_id,
                    f"{call.template} on {parent.candidate_id}: {said}; {u.prompt_tokens} + "
                    f"{u.completion_tokens} tokens in {u.seconds:.1f} s",
                    operator="llm",
                    seconds=round(u.seconds, 3),
                    total=u.tokens,
                    template=call.template,
                    outcome=call.outcome,
                )
            )

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
                allowance=self._llm_allowance,
                on_call=told,
            )
        except LLMError as exc:
            self._llm = False
            self.emit(Event("problem", -1, detail=f"operator llm rests this generation: {exc}"))
            return None
        finally:
            self._llm_usage = self._llm_sum()
        return answer

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
        main = self.ws.main_sha()
        _, deferrals = self.ws.committed_deferrals(main)
        stats = self.ws.committed_stats(main)
        self._llm, self._llm_usage, self._llm_spent = None, Usage(), False
        self._llm_calls, self._llm_generation = [], g
        planner = Planner(
            config=self.cfg,
            archive=archive,
            scores=self._scores(archive),
            sources=sources,
            read=lambda m: self.ws.read_strategy(m.commit, m.strategy),
            generation=g,
            emit=self.emit,
            deferred=active_deferrals(
                [(d.variant, d.until_generation) for d in deferrals], generation=g
            ),
            boosted={cid for cid, v in (stats.variants.items() if stats else ()) if v.mutate_next},
            failed=set(stats.failure_cache if stats else ()),
            wasted=wasted_attempts(
                {op: r.invalid for op, r in (stats.operators.items() if stats else ())},
                stats.operators["llm"].llm if stats and "llm" in stats.operators else None,
            ),
            capacity=self._capacity,
            llm=_Prompting(self),
            state=self.ws.committed_search(main),
            focus=self.focus,
        )
        entries = planner.children(mutations, planned=planned)
        self._variation = planner.variation
        self._search = planner.state
        return entries

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
        spent = self._llm_spent_on()
        if spent:
            if not self._llm_spent:
                self._llm_spent = True
                self.emit(
                    Event(
                        "problem",
                        -1,
                        detail=f"operator llm: this generation's budget of {spent} is spent "
                        "([tool.augnes.llm]); the other operators make the rest",
                    )
                )
            return False
        return True

    def _llm_spent_on(self) -> str:
        """The generation's llm budget that has run out ("" while none has)."""
        c, used = self.cfg.llm, self._llm_usage
        if used.calls >= c.budget_calls:
            return f"{c.budget_calls} calls (budget_calls)"
        if used.tokens >= c.budget_tokens:
            return f"{c.budget_tokens} tokens (budget_tokens)"
        if used.seconds >= c.budget_s:
            return f"{c.budget_s:g} s (budget_s)"
        return ""

    def _llm_sum(self) -> Usage:
        used = Usage()
        for _, call in self._llm_calls:
            used.add(call.usage)
        return used

    def _llm_allowance(self) -> float | None:
        """Seconds the next model call may wait; None once a budget has run out (the
        calls of one child are counted as they happen)."""
        used = self._llm_usage = self._llm_sum()
        if self._llm_spent_on():
            return None
        return self.cfg.llm.budget_s - used.seconds


class _Prompting:
    """The loop's language-model client, as the planner asks it."""

    def __init__(self, loop: Planning) -> None:
        self.loop = loop

    def ready(self) -> bool:
        return self.loop._llm_ready()

    def ask(
        self,
        first: StrategySource,
        parent: ArchiveEntry,
        scores: Mapping[str, VariantScore],
        rng: random.Random,
    ) -> Answer | None:
        return self.loop._ask(first, parent, scores, rng)


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


def llm_tally(calls: list[tuple[str, Call]]) -> LLMUsage:
    """A generation's model calls, summed: in all, by refusal reason and by template."""
    refused: dict[str, int] = {}
    by: dict[str, TemplateUsage] = {}
    total = Usage()
    for _, call in calls:
        u = call.usage
        total.add(u)
        if call.outcome != USABLE:
            refused[call.outcome] = refused.get(call.outcome, 0) + 1
        t = by.get(call.template, TemplateUsage())
        by[call.template] = TemplateUsage(
            calls=t.calls + u.calls,
            tokens=t.tokens + u.tokens,
            seconds=round(t.seconds + u.seconds, 3),
            usable=t.usable + (call.outcome == USABLE),
        )
    return LLMUsage(
        calls=total.calls,
        tokens=total.tokens,
        cost=round(total.cost, 6),
        seconds=round(total.seconds, 3),
        usable=sum(t.usable for t in by.values()),
        refused=dict(sorted(refused.items())),
        templates=dict(sorted(by.items())),
    )
