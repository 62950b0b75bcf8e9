"""Efficacy at equal budgets, scored on held-out seeds: the Augnes loop against the v0.6 loop,
random search, DEAP (mu+lambda), pyribs MAP-Elites and plain CMA-ES.

    python benchmarks/perf/efficacy.py --suite binpacking [--seeds 20] [--budget 1000]
    python benchmarks/perf/efficacy.py --suite control --seeds 10 --budget 240
        [--methods augnes,v06,...] [--jobs 2] [--out FILE]
    python benchmarks/perf/efficacy.py --suite binpacking --sensitivity   # behind the defaults
    python benchmarks/perf/efficacy.py --suite control --ceilings         # each family's ceiling
    python benchmarks/perf/efficacy.py --suite binpacking --ablation      # what the archive adds

The protocol. Every method starts from the suite's seed strategies (their evaluations are
the first it spends) and spends a budget counted in full evaluations: episodes spent over
the episodes of one full evaluation, so a child the loop stops after its first stage costs
only the episodes it ran. One run per method and search seed; the same episode seeds for
all. The loops are the bot's own planner, operators, archive, selection and reflection
(memory_loop.py), evaluated on an exact fast path (fastpack.py, fastcontrol.py: the same
episodes and rewards as the sandboxed path, proved by tests); the baselines ask the same
evaluator. Each run is read at 60, 240 and 1,000 evaluations (anytime curves): the
variant the method would ship at that point — the loop's elite on main with the best
in-sample benchmark_score, a baseline's best evaluated variant — is scored on the suite's
held-out seeds, which no method ever selects on. Budgets are never overdrawn: a loop is
read after the last generation that fits.

Methods: `augnes` (the defaults), `augnes-no-early-stop` (first_stage_episodes = 0),
`v06` (the same operators; every child from the best elite, S = mean_reward +
0.5·avg_advantage, no niche founding), `random` (strategy and parameters uniform over the
declared ranges), `deap` (mu = lambda = 8, varOr with the bot's perturbation, resampling and
crossover, same sigma and rate), `ribs` (MAP-Elites, strategy × complexity grid, Gaussian
emitters with the same sigma), `cma` (plain CMA-ES from the best seed over its family's
numeric parameters, the loop's cma_sigma, pycma's default population, IPOP restarts when
pycma stops). Strategies that plan with a learned world model (mpc) are left out: the
benchmark trains no models.

`--sensitivity` runs the loop with one setting changed at a time, on tuning seeds and a
tuning instance set of their own (never the held-out seeds of the protocol); `--ceilings`
runs a long CMA-ES per family and goal (control), the headroom the methods are measured
against. `--ablation` runs (a) and (b) on the protocol's seeds with only the operators whose
children depend on the parent they are given (perturb, crossover, resample): with CMA-ES,
the design and global resampling, most children are drawn around a niche's run or over the
whole space whoever the parent is, so what the archive's parent choice and S add is
measured where they decide every child (the report sets these runs beside the protocol's
(a) and (b) with every operator). It reads; it tunes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import random
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from memory_loop import MemoryLoop, strategies_of  # noqa: E402

from bot.candidates import content_hash  # noqa: E402
from bot.config import Config, parse_config  # noqa: E402
from bot.evaluating import episode_scores  # noqa: E402
from bot.evaluator import Episode  # noqa: E402
from bot.goals import Suite, load_suite  # noqa: E402
from bot.heldout import heldout_plan  # noqa: E402
from bot.manifest import PARAMS, ParamValue, dump_params, niche_key  # noqa: E402
from bot.operators import operators  # noqa: E402
from bot.operators.space import coordinates, from_unit, to_unit  # noqa: E402
from bot.reproduce import goal_means  # noqa: E402
from bot.workspace import StrategySource  # noqa: E402

METHODS = ("augnes", "augnes-no-early-stop", "v06", "random", "deap", "ribs", "cma")
CHECKPOINTS = (60, 240, 1000)
MUTATIONS = 4  # children per generation of the loops, and the batch of the baselines
TUNING_HELDOUT = 7_000_003  # the tuning instance set: this far from the suite's held-out seeds
OVERRIDES: dict[str, dict[str, Any]] = {
    "augnes": {},
    "augnes-no-early-stop": {"evaluation": {"first_stage_episodes": 0}},
    "v06": {
        "selection": {"formula": "v06"},
        "parents": {"policy": "best"},
        "variation": {"found_niches": False},
    },
}


# ---- the suite, its evaluator and the budget ---------------------------------------------
def suite_of(name: str, *, tuning: bool = False) -> Suite:
    suite = load_suite(ROOT / "benchmarks", name)
    if not tuning:
        return suite
    goals = tuple(
        g.model_copy(update={"heldout_seed": (g.heldout_seed or 0) + TUNING_HELDOUT})
        for g in suite.goals
    )
    return Suite(suite.name, suite.description, suite.episode_seed, goals)


def evaluator_of(suite: Suite) -> Callable[[StrategySource, Any], list[Episode]]:
    kinds = {g.kind for g in suite.goals}
    if kinds == {"binpacking"}:
        from fastpack import PackingEvaluate

        return PackingEvaluate()
    if kinds == {"gymnasium"}:
        from fastcontrol import ControlEvaluate

        return ControlEvaluate()
    raise SystemExit(f"suite {suite.name}: no fast evaluation path for goal kinds {kinds}")


def seeds_of(suite: Suite) -> dict[str, StrategySource]:
    """The suite's seed strategies, but those that plan with a learned world model."""
    return {n: s for n, s in strategies_of(ROOT, suite).items() if s.manifest.world_model is None}


class Spent(Exception):
    """The budget is spent."""


@dataclass
class Budget:
    """Counts episodes against the budget; scores what a method would ship on the held-out
    seeds (once per content)."""

    suite: Suite
    evaluate: Callable[[StrategySource, Any], list[Episode]]
    full: int  # episodes of one full evaluation
    limit: float  # full evaluations
    episodes: int = 0
    # per content: held-out benchmark_score, episodes, and each goal's mean reward_norm
    heldout: dict[str, tuple[float, int, dict[str, float]]] = field(default_factory=dict)

    @property
    def spent(self) -> float:
        return self.episodes / self.full

    def run(self, source: StrategySource, plan: Any) -> list[Episode]:
        episodes = self.evaluate(source, plan)
        self.episodes += len(episodes)
        return episodes

    def score(self, source: StrategySource, episodes: Sequence[Episode]) -> float:
        goals = self.suite.goals_for(source.manifest.suites)
        _, bench = episode_scores(episodes, self.suite, self.suite.scored_weights(), goals)
        return min(1.0, bench)

    def held_out(self, source: StrategySource) -> float:
        key = content_hash(source.files)
        if key not in self.heldout:
            goals = self.suite.goals_for(source.manifest.suites)
            episodes = self.evaluate(source, heldout_plan(self.suite, goals))
            per_goal = {g: round(v, 6) for g, v in sorted(goal_means(episodes, goals).items())}
            self.heldout[key] = (self.score(source, episodes), len(episodes), per_goal)
        return self.heldout[key][0]

    def held_out_goals(self, source: StrategySource) -> dict[str, float]:
        """Each goal's held-out mean reward_norm (what a family's ceiling is made of)."""
        self.held_out(source)
        return self.heldout[content_hash(source.files)][2]


def with_params(source: StrategySource, params: dict[str, ParamValue]) -> StrategySource:
    files = {**source.files, PARAMS: dump_params(params).encode()}
    return StrategySource(source.name, source.manifest, params, files)


# ---- a run's record ------------------------------------------------------------------------
@dataclass
class Record:
    """What a run shipped at each checkpoint, and its in-sample curve."""

    budget: Budget
    checkpoints: Sequence[int]
    readings: dict[int, dict[str, Any]] = field(default_factory=dict)
    curve: list[tuple[float, float]] = field(default_factory=list)  # (spent, best in-sample)

    def read(self, spent: float, shipped: StrategySource | None, inside: float | None) -> None:
        """The state after `spent` evaluations: the reading of every checkpoint it has not
        passed (so a checkpoint keeps the last state within its budget)."""
        for c in self.checkpoints:
            if spent > c or shipped is None or inside is None:
                continue
            self.readings[c] = {
                "spent": round(spent, 3),
                "strategy": shipped.name,
                "in_sample": round(inside, 6),
                "content": content_hash(shipped.files),
                "source": shipped,
            }

    def close(self) -> dict[str, Any]:
        out = {}
        for c, r in sorted(self.readings.items()):
            source = r.pop("source")
            r["heldout"] = round(self.budget.held_out(source), 6)
            if len(self.budget.suite.goals) > 1:
                r["heldout_goals"] = self.budget.held_out_goals(source)
            out[str(c)] = r
        return out


# ---- the loops -------------------------------------------------------------------------------
def config_of(suite: str, seed: int, overrides: dict[str, Any]) -> Config:
    """The defaults, for this suite and search seed, with `overrides` ({section: {key:
    value}}) on top."""
    data: dict[str, Any] = {"suite": suite, "seed": seed}
    for section, values in overrides.items():
        data[section] = {**data.get(section, {}), **values}
    return parse_config(data, source="efficacy overrides")


def run_loop(
    config: Config, budget: Budget, record: Record, seeds: dict[str, StrategySource]
) -> dict[str, Any]:
    """The loop, generation after generation, until the next one would overdraw the budget
    (that one's state is never read)."""
    loop = MemoryLoop(config, budget.suite, dict(seeds), budget.run)
    stalled = 0
    while True:
        before = budget.episodes
        entries = loop.step(MUTATIONS)
        if budget.spent > budget.limit:
            break
        shipped = loop.shipped()
        if shipped is not None:
            inside = loop.scores()[shipped].benchmark_score
            record.read(budget.spent, loop.variants[shipped], inside)
            record.curve.append((round(budget.spent, 3), round(inside, 6)))
        stalled = stalled + 1 if budget.episodes == before or not entries else 0
        if stalled > 50:
            raise SystemExit(f"seed {config.seed}: the loop stopped proposing children")
    metas = loop.archive.meta.values()
    return {
        "variants": len(loop.archive.meta),
        "early_stopped": sum(1 for m in metas if m.early_stopped),
        "clones": sum(1 for m in metas if m.clone),
        "merged": sum(1 for m in metas if m.decision.startswith("merged")),
        "generations": loop.generation,
        "operators": _count(m.operator for m in metas),
        "restarts": len(loop.said),
    }


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


# ---- the baselines -------------------------------------------------------------------------
@dataclass
class Space:
    """Every seed strategy's declared parameters as one genome: a gene choosing the
    strategy, then each strategy's coordinates in [0, 1]."""

    seeds: dict[str, StrategySource]

    @property
    def names(self) -> list[str]:
        return sorted(self.seeds)

    def coords(self, name: str) -> list[Any]:
        return coordinates(self.seeds[name].manifest)

    @property
    def dim(self) -> int:
        return 1 + sum(len(self.coords(n)) for n in self.names)

    def encode(self, name: str) -> np.ndarray:
        x = [(self.names.index(name) + 0.5) / len(self.names)]
        for n in self.names:
            x += to_unit(self.coords(n), self.seeds[n].params)
        return np.array(x)

    def decode(self, x: Sequence[float]) -> tuple[str, dict[str, ParamValue]]:
        u = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)
        name = self.names[min(len(self.names) - 1, int(u[0] * len(self.names)))]
        at = 1
        for n in self.names:
            width = len(self.coords(n))
            if n == name:
                return name, from_unit(self.coords(n), self.seeds[n].params, u[at : at + width])
            at += width
        raise AssertionError("unreachable")

    def cell(self, name: str, params: dict[str, ParamValue]) -> tuple[float, float]:
        cell = int(niche_key(self.seeds[name].manifest, params).rsplit("/c", 1)[1])
        return self.names.index(name) + 0.5, cell + 0.5


@dataclass
class Asker:
    """A baseline's evaluations: full ones, each duplicate answered from a cache at no cost,
    the best so far recorded."""

    space: Space
    budget: Budget
    record: Record
    cache: dict[str, float] = field(default_factory=dict)
    best: tuple[float, StrategySource | None] = (-math.inf, None)
    evaluations: int = 0

    def __call__(self, name: str, params: dict[str, ParamValue]) -> float:
        source = with_params(self.space.seeds[name], params)
        key = content_hash(source.files)
        if key in self.cache:
            return self.cache[key]
        if self.budget.spent + 1 > self.budget.limit + 1e-9:
            raise Spent
        goals = self.budget.suite.goals_for(source.manifest.suites)
        plan = [(g, self.budget.suite.seeds(g), 0) for g in goals]
        score = self.budget.score(source, self.budget.run(source, plan))
        self.cache[key] = score
        self.evaluations += 1
        if score > self.best[0]:
            self.best = (score, source)
        self.record.read(self.budget.spent, self.best[1], self.best[0])
        self.record.curve.append((round(self.budget.spent, 3), round(self.best[0], 6)))
        return score

    def seeds(self) -> None:
        for name in self.space.names:
            self(name, self.space.seeds[name].params)


def run_random(ask: Asker, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ask.seeds()
    while True:
        ask(*ask.space.decode(rng.random(ask.space.dim)))


def run_deap(ask: Asker, seed: int, config: Config) -> None:
    """DEAP's (mu+lambda): mu = lambda = 8, varOr with the bot's own operators: mutation is its
    Gaussian perturbation or its uniform resampling (even odds), crossover its uniform
    crossover (between two strategies it falls back to mutation)."""
    from deap import algorithms, base, creator, tools

    if not hasattr(creator, "AugnesFitness"):
        creator.create("AugnesFitness", base.Fitness, weights=(1.0,))
        creator.create("AugnesIndividual", dict, fitness=creator.AugnesFitness, strategy="")
    rng = random.Random(seed)
    random.seed(seed)  # varOr and the selections draw from the module's generator
    v = config.variation
    ops = operators(sigma=v.sigma, rate=v.rate)
    space = ask.space

    def individual(strategy: str, params: dict[str, ParamValue]) -> Any:
        ind = creator.AugnesIndividual(params)
        ind.strategy = strategy
        return ind

    def mutate(ind: Any) -> tuple[Any]:
        op = ops[rng.choice(("perturb", "resample"))]
        child, _ = op.apply(space.seeds[ind.strategy].manifest, [dict(ind)], rng=rng)
        ind.clear()
        ind.update(child)
        return (ind,)

    def mate(a: Any, b: Any) -> tuple[Any, Any]:
        if a.strategy != b.strategy:
            return mutate(a)[0], b
        m = space.seeds[a.strategy].manifest
        first, _ = ops["crossover"].apply(m, [dict(a), dict(b)], rng=rng)
        second, _ = ops["crossover"].apply(m, [dict(b), dict(a)], rng=rng)
        a.clear(), a.update(first), b.clear(), b.update(second)
        return a, b

    toolbox = base.Toolbox()
    toolbox.register("mate", mate)
    toolbox.register("mutate", mutate)
    toolbox.register("select", tools.selBest)
    mu = lam = 8
    np_rng = np.random.default_rng(seed)
    population = [individual(n, dict(space.seeds[n].params)) for n in space.names]
    while len(population) < mu:
        population.append(individual(*space.decode(np_rng.random(space.dim))))

    def assess(inds: list[Any]) -> None:
        for ind in inds:
            if not ind.fitness.valid:
                ind.fitness.values = (ask(ind.strategy, dict(ind)),)

    assess(population)
    while True:
        offspring = algorithms.varOr(population, toolbox, lam, cxpb=0.3, mutpb=0.7)
        assess(offspring)
        population = toolbox.select(population + offspring, mu)


def run_ribs(ask: Asker, seed: int, config: Config) -> None:
    """pyribs MAP-Elites: a grid of strategy × complexity bin, seeded with the seeds, and
    Gaussian emitters (the loop's sigma in the scaled space) drawing from the grid."""
    from ribs.archives import GridArchive
    from ribs.emitters import GaussianEmitter
    from ribs.schedulers import Scheduler

    space = ask.space
    bins = max(len(s.manifest.niche.bins) + 1 for s in space.seeds.values())
    archive = GridArchive(
        solution_dim=space.dim,
        dims=[len(space.names), bins],
        ranges=[(0, len(space.names)), (0, bins)],
        seed=seed,
    )
    x0 = [space.encode(n) for n in space.names]
    scores = [ask(n, space.seeds[n].params) for n in space.names]
    archive.add(
        np.array(x0),
        np.array(scores),
        np.array([space.cell(n, space.seeds[n].params) for n in space.names]),
    )
    emitters = [
        GaussianEmitter(
            archive,
            sigma=config.variation.sigma,
            x0=x0[i % len(x0)],
            bounds=[(0.0, 1.0)] * space.dim,
            batch_size=MUTATIONS // 2,
            seed=seed * 10 + i,
        )
        for i in range(2)
    ]
    scheduler = Scheduler(archive, emitters)
    while True:
        solutions = scheduler.ask()
        objectives, cells = [], []
        for x in solutions:
            name, params = space.decode(x)
            objectives.append(ask(name, params))
            cells.append(space.cell(name, params))
        scheduler.tell(np.array(objectives), np.array(cells))


def run_cma(ask: Asker, seed: int, config: Config) -> None:
    """Plain CMA-ES from the best seed, over its family's numeric parameters (categoricals
    kept), pycma's defaults but for the initial step (the loop's cma_sigma); IPOP restarts
    from a uniform point when pycma stops."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import cma
    ask.seeds()
    searchable = [
        (ask.cache[content_hash(with_params(s, s.params).files)], n)
        for n, s in ask.space.seeds.items()
        if coordinates(s.manifest, numeric_only=True)
    ]
    if not searchable:
        raise Spent  # nothing to search
    name = max(searchable)[1]  # the best seed that has numeric parameters
    start = ask.space.seeds[name]
    coords = coordinates(start.manifest, numeric_only=True)
    rng = np.random.default_rng(seed)
    x0, popsize = to_unit(coords, start.params), None
    for restart in range(100):
        opts: dict[str, Any] = {
            "bounds": [0.0, 1.0],
            "seed": seed * 100 + restart + 1,
            "verbose": -9,
        }
        if popsize:
            opts["popsize"] = popsize
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            es = cma.CMAEvolutionStrategy(list(x0), config.variation.cma_sigma, opts)
            while not es.stop():
                xs = es.ask()
                es.tell(xs, [-ask(name, from_unit(coords, start.params, x)) for x in xs])
        popsize = 2 * es.popsize
        x0 = rng.random(len(coords))


# ---- one run ---------------------------------------------------------------------------------
def run_one(
    method: str,
    suite_name: str,
    seed: int,
    *,
    budget: float,
    checkpoints: Sequence[int],
    overrides: dict[str, Any] | None = None,
    tuning: bool = False,
) -> dict[str, Any]:
    started = time.perf_counter()
    suite = suite_of(suite_name, tuning=tuning)
    seeds = seeds_of(suite)
    full = max(sum(g.episodes for g in suite.goals_for(s.manifest.suites)) for s in seeds.values())
    spend = Budget(suite, evaluator_of(suite), full, budget)
    marks = sorted({c for c in checkpoints if c <= budget} | {int(budget)})
    record = Record(spend, marks)
    base = OVERRIDES.get(method, {}) if overrides is None else overrides
    config = config_of(suite_name, seed, base)
    facts: dict[str, Any] = {}
    if method.startswith("augnes") or method == "v06":
        facts = run_loop(config, spend, record, seeds)
    else:
        ask = Asker(Space(seeds), spend, record)
        runner = {
            "random": lambda: run_random(ask, seed),
            "deap": lambda: run_deap(ask, seed, config),
            "ribs": lambda: run_ribs(ask, seed, config),
            "cma": lambda: run_cma(ask, seed, config),
        }[method]
        with contextlib.suppress(Spent):
            runner()
        facts = {"variants": ask.evaluations, "early_stopped": 0}
    readings = record.close()
    return {
        "method": method,
        "seed": seed,
        # the budget read: a loop's last generation that would overdraw it is not counted
        "spent": record.curve[-1][0] if record.curve else 0.0,
        "full_evaluation_episodes": full,
        "checkpoints": readings,
        "curve": record.curve,
        "wall_s": round(time.perf_counter() - started, 2),
        **facts,
    }


def _run(job: tuple[Any, ...]) -> dict[str, Any]:
    method, suite, seed, budget, checkpoints, overrides, tuning, label = job
    out = run_one(
        method,
        suite,
        seed,
        budget=budget,
        checkpoints=checkpoints,
        overrides=overrides,
        tuning=tuning,
    )
    out["label"] = label
    return out


def run_all(
    jobs: list[tuple[Any, ...]], *, workers: int, done: Callable[[dict[str, Any]], None]
) -> None:
    if workers <= 1:
        for job in jobs:
            done(_run(job))
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        for result in pool.map(_run, jobs):
            done(result)


# ---- the table behind the defaults, the ablation and the ceilings ------------------------
PARENT_LED = ("perturb", "crossover", "resample")  # a child is its parent's, changed
ABLATION: dict[str, tuple[str, dict[str, Any]]] = {  # label -> (method, overrides)
    "augnes, parent-led operators": ("augnes", {"variation": {"operators": list(PARENT_LED)}}),
    "v06, parent-led operators": (
        "v06",
        {**OVERRIDES["v06"], "variation": {**OVERRIDES["v06"]["variation"],
                                           "operators": list(PARENT_LED)}},
    ),
}  # fmt: skip

SENSITIVITY: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "variation.operators": [
        (", ".join(ops), {"variation": {"operators": list(ops)}})
        for ops in (("design", "cma"), ("design", "crossover", "global", "cma"))
    ],
    "variation.sigma": [(str(v), {"variation": {"sigma": v}}) for v in (0.02, 0.1, 0.2)],
    "variation.adapt_sigma": [("false", {"variation": {"adapt_sigma": False}})],
    "variation.cma_sigma": [(str(v), {"variation": {"cma_sigma": v}}) for v in (0.1, 0.5)],
    "variation.cma_share": [(str(v), {"variation": {"cma_share": v}}) for v in (0.0, 0.5)],
    "variation.cma_after": [(str(v), {"variation": {"cma_after": v}}) for v in (0, 300)],
    "variation.cma_popsize": [(str(v), {"variation": {"cma_popsize": v}}) for v in (4, 6)],
    "variation.bandit_floor": [(str(v), {"variation": {"bandit_floor": v}}) for v in (0.1, 0.15)],
    "variation.design_points": [(str(v), {"variation": {"design_points": v}}) for v in (0, 16)],
    "variation.restart_after": [(str(v), {"variation": {"restart_after": v}}) for v in (0, 10)],
    "evaluation.early_stop_margin": [
        (str(v), {"evaluation": {"early_stop_margin": v}}) for v in (0.01, 0.02, 0.05, 0.2)
    ],
    "evaluation.first_stage_episodes": [
        (str(v), {"evaluation": {"first_stage_episodes": v}}) for v in (1, 4)
    ],
    "parents.k": [(str(v), {"parents": {"k": v}}) for v in (0.5, 3.0)],
    "parents.elite_share": [(str(v), {"parents": {"elite_share": v}}) for v in (0.0, 0.75)],
    "parents.islands": [("4", {"parents": {"islands": 4}})],
    "selection.min_improvement": [
        (str(v), {"selection": {"min_improvement": v}}) for v in (0.0, 0.005)
    ],
    "selection.margin": [
        (f"regret, min_improvement {v}", {"selection": {"margin": "regret", "min_improvement": v}})
        for v in (0.01, 0.02)
    ],
    "selection.paired_test": [
        ("true", {"selection": {"paired_test": True}}),
        (
            "true, min_improvement 0.001",
            {"selection": {"paired_test": True, "min_improvement": 0.001}},
        ),
        ("true, min_improvement 0", {"selection": {"paired_test": True, "min_improvement": 0.0}}),
    ],
}


def ceilings(suite_name: str, *, evaluations: int, workers: int) -> dict[str, Any]:
    """Per family and goal, the best held-out reward_norm of any variant a long CMA-ES on
    that goal alone evaluates (the family's parameters are all searched on the goal's
    selection episodes; every variant is also scored on its held-out episodes, and the best
    there is kept: a bound, not a variant anyone would ship), and the family's ceiling: the
    weighted mean over its goals (one variant need not reach every goal's best at once)."""
    suite = suite_of(suite_name)
    jobs = [
        (suite_name, name, goal.goal_id, evaluations)
        for name, src in sorted(seeds_of(suite).items())
        for goal in suite.goals_for(src.manifest.suites)
    ]
    out: dict[str, Any] = {}
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            results = list(pool.map(_ceiling, jobs))
    else:
        results = [_ceiling(job) for job in jobs]
    for (_, name, goal, _), result in zip(jobs, results, strict=True):
        out.setdefault(name, {"goals": {}})["goals"][goal] = result
    weights = suite.scored_weights()
    for fam in out.values():
        total = sum(weights[g] for g in fam["goals"])
        fam["ceiling"] = round(
            sum(weights[g] * r["heldout"] for g, r in fam["goals"].items()) / total, 6
        )
    return out


PATH = (1000, 3000, 10000)  # the budgets a ceiling search is read at on its way


def _ceiling(job: tuple[str, str, str, int]) -> dict[str, Any]:
    suite_name, name, goal_id, evaluations = job
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import cma
    suite = suite_of(suite_name)
    goal = suite.goal(goal_id)
    seed = seeds_of(suite)[name]
    evaluate = evaluator_of(suite)
    coords = coordinates(seed.manifest, numeric_only=True)

    def reward(source: StrategySource, seeds: Sequence[int]) -> float:
        episodes = evaluate(source, [(goal, tuple(seeds), 0)])
        norms, _ = episode_scores(episodes, suite, {goal_id: 1.0}, [goal])
        return float(np.mean(list(norms.values())))

    # the best on the selection episodes: its reward there, its held-out reward
    best = (reward(seed, suite.seeds(goal)), reward(seed, suite.heldout_seeds(goal)))
    reach = best[1]  # the best held-out reward_norm seen
    path = []  # what the search would ship at each of PATH's budgets
    spent, restart, x0, popsize = 1, 0, to_unit(coords, seed.params), None
    rng = np.random.default_rng(7)
    while spent < evaluations and coords:
        opts: dict[str, Any] = {"bounds": [0.0, 1.0], "seed": 1000 + restart, "verbose": -9}
        if popsize:
            opts["popsize"] = popsize
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            es = cma.CMAEvolutionStrategy(list(x0), 0.3, opts)
            while not es.stop() and spent < evaluations:
                xs = es.ask()
                fs = []
                for x in xs:
                    source = with_params(seed, from_unit(coords, seed.params, x))
                    value = reward(source, suite.seeds(goal))
                    heldout = reward(source, suite.heldout_seeds(goal))
                    reach = max(reach, heldout)
                    spent += 1
                    if value > best[0]:
                        best = (value, heldout)
                    if spent in PATH:
                        path.append({"evaluations": spent, "in_sample": round(best[0], 6),
                                     "shipped_heldout": round(best[1], 6)})  # fmt: skip
                    fs.append(-value)
                es.tell(xs, fs)
        restart, popsize, x0 = restart + 1, 2 * es.popsize, rng.random(len(coords))
    return {
        # the search's best on its selection episodes, and that variant's held-out reward
        "in_sample": round(best[0], 6),
        "shipped_heldout": round(best[1], 6),
        "heldout": round(reach, 6),
        "evaluations": spent,
        "path": path,
    }


def start_of(suite_name: str, *, tuning: bool) -> dict[str, Any]:
    """Where every run starts: the best seed strategy, in-sample and held out."""
    suite = suite_of(suite_name, tuning=tuning)
    seeds = seeds_of(suite)
    full = max(sum(g.episodes for g in suite.goals_for(s.manifest.suites)) for s in seeds.values())
    budget = Budget(suite, evaluator_of(suite), full, math.inf)
    scored = []
    for name, source in sorted(seeds.items()):
        goals = suite.goals_for(source.manifest.suites)
        plan = [(g, suite.seeds(g), 0) for g in goals]
        scored.append((budget.score(source, budget.run(source, plan)), name, source))
    inside, name, best = max(scored, key=lambda t: (t[0], t[1]))
    return {
        "strategy": name,
        "in_sample": round(inside, 6),
        "heldout": round(budget.held_out(best), 6),
    }


# ---- the command -----------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--suite", default="binpacking", choices=("binpacking", "control"))
    parser.add_argument("--seeds", type=int, help="search seeds per method (default 20 / 10)")
    parser.add_argument(
        "--budget", type=float, help="full evaluations per run (default 1000 / 240)"
    )
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (about one per core)")
    parser.add_argument("--sensitivity", action="store_true")
    parser.add_argument(
        "--only",
        metavar="KEYS",
        help="with --sensitivity: only these settings (comma-separated, e.g. "
        "selection.paired_test), beside the defaults",
    )
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="(a) and (b) with perturb, crossover and resample only, on the protocol's seeds",
    )
    parser.add_argument("--ceilings", type=int, metavar="EVALUATIONS", nargs="?", const=600)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--update",
        action="store_true",
        help="keep the other runs in the output file (same seeds and budget): the methods "
        "not in --methods (re-run the loops after a change to them, not the baselines), or "
        "with --sensitivity the settings not in --only; a timings.json beside the output "
        "(report.py's) is kept true the same way",
    )
    args = parser.parse_args(argv)
    budget = args.budget or (1000.0 if args.suite == "binpacking" else 240.0)
    started = time.perf_counter()
    if args.ceilings:
        result: dict[str, Any] = {
            "suite": args.suite,
            "evaluations": args.ceilings,
            "families": ceilings(args.suite, evaluations=args.ceilings, workers=args.jobs),
            "weights": dict(suite_of(args.suite).scored_weights()),
        }
    else:
        methods = [m for m in args.methods.split(",") if m]
        unknown = sorted(set(methods) - set(METHODS))
        if unknown:
            parser.error(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
        count = args.seeds or (20 if args.suite == "binpacking" else 10)
        if args.sensitivity:
            jobs = [
                ("augnes", args.suite, 1000 + s, budget, CHECKPOINTS, change, True, label)
                for label, change in settings(args.only.split(",") if args.only else None)
                for s in range(1, count + 1)
            ]
        elif args.ablation:
            jobs = [
                (method, args.suite, s, budget, CHECKPOINTS, change, False, label)
                for s in range(1, count + 1)
                for label, (method, change) in ABLATION.items()
            ]
        else:
            jobs = [
                (m, args.suite, s, budget, CHECKPOINTS, None, False, m)
                for s in range(1, count + 1)
                for m in methods
            ]
        runs: list[dict[str, Any]] = []

        def done(run: dict[str, Any]) -> None:
            runs.append(run)
            shown = {c: r["heldout"] for c, r in run["checkpoints"].items()}
            print(
                f"{args.suite} {run['label']} seed {run['seed']}: held-out {shown}, "
                f"{run['wall_s']} s",
                file=sys.stderr,
                flush=True,
            )

        run_all(jobs, workers=args.jobs, done=done)
        result = {
            "start": start_of(args.suite, tuning=args.sensitivity),
            "suite": args.suite,
            "budget": budget,
            "seeds": count,
            "checkpoints": sorted({c for c in CHECKPOINTS if c <= budget} | {int(budget)}),
            "mutations": MUTATIONS,
            "kind": kind_of(args),
            "runs": runs,
        }
    result["wall_s"] = round(time.perf_counter() - started, 1)
    out = args.out or ROOT / "benchmarks" / "perf" / "results" / (
        f"{'ceilings' if args.ceilings else kind_of(args)}_{args.suite}.json"
    )
    seconds, share = result["wall_s"], 0.0
    if args.update:
        share = kept_share(result, out) if out.is_file() else 0.0
        result = kept_with(result, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    if args.update:
        retime(out, seconds, share)
    return result


def kind_of(args: argparse.Namespace) -> str:
    return "sensitivity" if args.sensitivity else "ablation" if args.ablation else "efficacy"


def settings(only: list[str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The sensitivity table's rows as (label, change): the defaults, then each setting of
    each key in `only` (every key if None) in the order SENSITIVITY lists them."""
    return [("defaults", {})] + [
        (f"{key} = {label}", change)
        for key, options in SENSITIVITY.items()
        if only is None or key in only
        for label, change in options
    ]


# the order of a file's runs within a seed: the methods, the ablation's, the settings'
LABEL_ORDER = [*METHODS, *ABLATION, *(label for label, _ in settings())]


def kept_with(result: dict[str, Any], out: Path) -> dict[str, Any]:
    """`result` with the runs of every other method or setting kept from `out`; its wall time
    adds the kept runs' share of the wall time `out` took."""
    if not out.is_file():
        raise SystemExit(f"--update: {out} does not exist; run every method once first")
    old = json.loads(out.read_text())
    for key in ("suite", "budget", "seeds", "checkpoints", "kind"):
        if old.get(key) != result.get(key):
            raise SystemExit(
                f"--update: {out} has {key} {old.get(key)!r}, this run {result.get(key)!r}; "
                "run every method again instead"
            )
    ran = {r["label"] for r in result["runs"]}
    kept = [r for r in old["runs"] if r["label"] not in ran]
    order = {label: i for i, label in enumerate(LABEL_ORDER)}
    runs = sorted(kept + result["runs"], key=lambda r: (r["seed"], order.get(r["label"], 999)))
    wall = result["wall_s"] + old["wall_s"] * kept_share(result, out)
    return {**result, "runs": runs, "wall_s": round(wall, 1)}


def kept_share(result: dict[str, Any], out: Path) -> float:
    """The share of `out`'s run time that went to the runs an update of it with `result`
    keeps (by the runs' own wall times)."""
    old = json.loads(out.read_text())["runs"]
    ran = {r["label"] for r in result["runs"]}
    total = sum(r["wall_s"] for r in old) or 1.0
    return sum(r["wall_s"] for r in old if r["label"] not in ran) / total


def retime(out: Path, seconds: float, share: float) -> None:
    """After an update: report.py's timings.json beside `out`, if it times `out`, gets this
    run's seconds plus the kept runs' share of what that part took (section 5 stays true)."""
    path = out.parent / "timings.json"
    timings = json.loads(path.read_text()) if path.is_file() else {}
    if out.stem in timings:
        timings[out.stem] = round(seconds + share * timings[out.stem], 1)
        path.write_text(json.dumps(timings, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
