"""Efficacy at an equal evaluation budget: the Augnes loop against the v0.6 loop, random
search, a DEAP (mu+lambda) genetic algorithm and pyribs MAP-Elites.

    python benchmarks/perf/efficacy.py --suite control [--budget 80] [--seeds 5]
        [--methods augnes,v06,random,deap,ribs] [--episodes N] [--out FILE]

Every method starts from the same seed strategies (their evaluations are the first ones it
spends), faces the same episode seeds, and has the same budget of episodes: `--budget` full
evaluations' worth. Episodes are what an evaluation costs (DESIGN: one judgment is one
evaluated episode), so a child the loop stops early after its first stage costs only the
episodes it ran; a variant that a baseline proposes again is answered from a cache and
costs nothing, which favours the baselines. The two loops run as
users run them: `augnes run` in a scratch clone, the local forge, the configured sandbox;
`v06` is the same loop configured as Augnes v0.6 was (every child from the single best
variant, selection by mean_reward + 0.5·avg_advantage, no archive parents, no niches).
Random search, DEAP and pyribs ask this script's evaluator, which runs the bot's own
evaluation session (same worker, same harness, same scoring) on the scratch clone.

The search space of the baselines is the declared parameters of the suite's strategies. A
genome is one gene choosing the strategy plus every strategy's parameters scaled to [0, 1]
(categoricals by index), starting from the seeds' values; DEAP varies individuals with the
bot's own operators (Gaussian perturbation, uniform resampling, uniform crossover; same sigma
and rate);
pyribs' Gaussian emitter uses the same sigma in the scaled space, over a grid of strategy
× complexity bin (the bot's niches).

Writes one JSON per suite: per method and search seed, after each evaluation the best fully
evaluated benchmark_score so far and the episodes spent, plus the evaluations per strategy
and wall time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from common import clone  # noqa: E402

from bot.evaluating import episode_scores  # noqa: E402
from bot.evaluator import EnvPool, Session  # noqa: E402
from bot.goals import Goal  # noqa: E402
from bot.manifest import PARAMS, Manifest, ParamValue, dump_params, read_strategy  # noqa: E402
from bot.operators import operators  # noqa: E402
from bot.sandbox import open_sandbox  # noqa: E402
from bot.workspace import Workspace  # noqa: E402

METHODS = ("augnes", "v06", "random", "deap", "ribs")
MUTATIONS = 4  # children per generation of the loops, and the batch of the baselines


# ---- the scratch repository --------------------------------------------------------------
def scratch(
    dest: Path, *, suite: str, seed: int, method: str, episodes: int | None, sandbox: str
) -> Path:
    """A clone of this repository configured for one run: the suite, the search seed, the
    loop's policy, and (when asked) fewer episodes per goal for every method alike."""
    clone(ROOT, dest)
    base = tomllib.loads((dest / "pyproject.toml").read_text())["tool"]["augnes"]
    lines = [f'suite = "{suite}"', f"seed = {seed}"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in base.items() if k not in ("suite", "seed")]
    lines += ["[evaluation]", f'sandbox = "{sandbox}"']
    if method == "v06":
        lines += [
            "[selection]",
            'formula = "v06"',
            "[parents]",
            'policy = "best"',
            "[variation]",
            "found_niches = false",
        ]
    (dest / "augnes.toml").write_text("\n".join(lines) + "\n")
    if episodes is not None:
        for goal in (dest / "benchmarks" / suite / "goals").glob("*.toml"):
            text = goal.read_text()
            kept = [ln for ln in text.splitlines() if not ln.startswith("episodes")]
            goal.write_text("\n".join(kept) + f"\nepisodes = {episodes}\n")
    git = ["git", "-C", str(dest), "-c", "user.name=bench", "-c", "user.email=bench@invalid"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", f"efficacy {method} seed {seed}"], check=True)
    return dest


# ---- the search space --------------------------------------------------------------------
@dataclass
class Slot:
    strategy: str
    name: str
    kind: str  # float, int, categorical
    low: float = 0.0
    high: float = 1.0
    choices: tuple[str, ...] = ()
    index: int | None = None  # element of a vector parameter


@dataclass
class Space:
    """Every strategy of the suite with its declared parameters, and the scaled genome."""

    names: list[str]
    manifests: dict[str, Manifest]
    seeds: dict[str, dict[str, ParamValue]]
    slots: list[Slot] = field(default_factory=list)

    @classmethod
    def of(cls, repo: Path, suite: str) -> Space:
        names, manifests, seeds = [], {}, {}
        for folder in sorted((repo / "strategies").iterdir()):
            if not (folder / "strategy.toml").is_file():
                continue
            manifest, params = read_strategy(folder)
            if suite in manifest.suites:
                names.append(folder.name)
                manifests[folder.name] = manifest
                seeds[folder.name] = params
        space = cls(names, manifests, seeds)
        for name in names:
            for pname, spec in sorted(manifests[name].params.items()):
                if spec.type == "categorical":
                    space.slots.append(Slot(name, pname, "categorical", choices=spec.choices or ()))
                    continue
                assert spec.min is not None and spec.max is not None
                for i in range(spec.size or 1):
                    space.slots.append(
                        Slot(
                            name,
                            pname,
                            spec.type,
                            spec.min,
                            spec.max,
                            index=i if spec.size else None,
                        )
                    )
        return space

    @property
    def dim(self) -> int:
        return 1 + len(self.slots)

    def encode(self, strategy: str) -> np.ndarray:
        """The genome of a seed: its strategy chosen, every slot at its seed's value."""
        x = np.empty(self.dim)
        x[0] = (self.names.index(strategy) + 0.5) / len(self.names)
        for j, s in enumerate(self.slots, start=1):
            value = self.seeds[s.strategy][s.name]
            if s.index is not None:
                assert isinstance(value, list)
                value = value[s.index]
            if s.kind == "categorical":
                x[j] = (s.choices.index(str(value)) + 0.5) / len(s.choices)
            else:
                x[j] = (float(value) - s.low) / (s.high - s.low)  # type: ignore[arg-type]
        return x

    def decode(self, x: Sequence[float]) -> tuple[str, dict[str, ParamValue]]:
        u = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)
        strategy = self.names[min(len(self.names) - 1, int(u[0] * len(self.names)))]
        params: dict[str, Any] = {}
        for j, s in enumerate(self.slots, start=1):
            if s.strategy != strategy:
                continue
            if s.kind == "categorical":
                value: Any = s.choices[min(len(s.choices) - 1, int(u[j] * len(s.choices)))]
            elif s.kind == "int":
                value = int(round(s.low + u[j] * (s.high - s.low)))
            else:
                value = s.low + u[j] * (s.high - s.low)
            if s.index is None:
                params[s.name] = value
            else:
                params.setdefault(s.name, []).append(value)
        return strategy, params

    def cell(self, strategy: str, params: dict[str, ParamValue]) -> tuple[float, float]:
        """MAP-Elites measures: the strategy's index and its complexity bin (bot niches)."""
        from bot.manifest import niche_key

        bin_index = int(niche_key(self.manifests[strategy], params).rsplit("/c", 1)[1])
        return self.names.index(strategy) + 0.5, bin_index + 0.5


# ---- the evaluator the baselines ask -----------------------------------------------------
class Budget(Exception):
    """The evaluation budget is spent."""


@dataclass
class Evaluator:
    repo: Path
    budget: int
    ws: Workspace = field(init=False)
    cache: dict[str, float] = field(default_factory=dict)
    curve: list[float] = field(default_factory=list)  # best so far, per evaluation
    spent: list[int] = field(default_factory=list)  # episodes spent, after each evaluation
    strategies: list[str] = field(default_factory=list)  # the strategy of each evaluation
    best_strategy: str = ""
    episodes: int = 0
    episode_s: float = 0.0

    def __post_init__(self) -> None:
        self.ws = Workspace.open(self.repo)
        self.sandbox = open_sandbox(self.ws.config.evaluation)
        self.pool = EnvPool()
        self.tmp = Path(tempfile.mkdtemp(prefix="augnes-efficacy-"))

    def close(self) -> None:
        self.pool.close()
        self.sandbox.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __call__(self, strategy: str, params: dict[str, ParamValue]) -> float:
        text = dump_params(params)
        key = strategy + "\n" + text
        if key in self.cache:
            return self.cache[key]
        if self.episodes >= self.budget:
            raise Budget
        where = self.tmp / f"e{len(self.curve)}" / strategy
        shutil.copytree(self.repo / "strategies" / strategy, where)
        (where / PARAMS).write_text(text)
        manifest = read_strategy(where)[0]  # checks the values against their declaration
        goals = self.ws.goals_for(manifest)
        ev = self.ws.config.evaluation
        with Session(
            self.sandbox,
            where,
            self.pool,
            reply_timeout=ev.reply_timeout_s,
            start_timeout=ev.start_timeout_s,
        ) as session:
            plan: list[tuple[Goal, Sequence[int], int]] = [
                (g, self.ws.suite.seeds(g), 0) for g in goals
            ]
            episodes = session.run(plan)
            self.episode_s += session.episode_seconds
        shutil.rmtree(where.parent, ignore_errors=True)
        _, bench = episode_scores(episodes, self.ws.suite, self.ws.suite.scored_weights(), goals)
        score = round(min(1.0, bench), 6)
        self.episodes += len(episodes)
        self.cache[key] = score
        if not self.curve or score > self.curve[-1]:
            self.best_strategy = strategy
        self.curve.append(max(score, self.curve[-1]) if self.curve else score)
        self.strategies.append(strategy)
        self.spent.append(self.episodes)
        return score


# ---- the baselines -----------------------------------------------------------------------
def run_random(space: Space, evaluate: Evaluator, seed: int) -> None:
    """The seeds, then strategy and parameters drawn uniformly from the declared ranges."""
    rng = np.random.default_rng(seed)
    for name in space.names:
        evaluate(name, space.seeds[name])
    while True:
        evaluate(*space.decode(rng.random(space.dim)))


def run_deap(space: Space, evaluate: Evaluator, seed: int, *, sigma: float, rate: float) -> None:
    """DEAP's (mu+lambda): mu = lambda = 8, varOr with the bot's own operators: mutation is
    its Gaussian perturbation or its uniform resampling (even odds), crossover its uniform
    crossover (between two strategies it falls back to mutation)."""
    from deap import algorithms, base, creator, tools

    if not hasattr(creator, "AugnesFitness"):
        creator.create("AugnesFitness", base.Fitness, weights=(1.0,))
        creator.create("AugnesIndividual", dict, fitness=creator.AugnesFitness, strategy="")
    rng = random.Random(seed)
    random.seed(seed)  # varOr and the selections draw from the module's generator
    ops = operators(sigma=sigma, rate=rate)

    def individual(strategy: str, params: dict[str, ParamValue]) -> Any:
        ind = creator.AugnesIndividual(params)
        ind.strategy = strategy
        return ind

    def mutate(ind: Any) -> tuple[Any]:
        op = ops[rng.choice(("perturb", "resample"))]
        child, _ = op.apply(space.manifests[ind.strategy], [dict(ind)], rng=rng)
        ind.clear()
        ind.update(child)
        return (ind,)

    def mate(a: Any, b: Any) -> tuple[Any, Any]:
        if a.strategy != b.strategy:
            return mutate(a)[0], b
        m = space.manifests[a.strategy]
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
    population = [individual(n, dict(space.seeds[n])) for n in space.names]
    while len(population) < mu:
        population.append(individual(*space.decode(np_rng.random(space.dim))))

    def assess(inds: list[Any]) -> None:
        for ind in inds:
            if not ind.fitness.valid:
                ind.fitness.values = (evaluate(ind.strategy, dict(ind)),)

    assess(population)
    while True:
        offspring = algorithms.varOr(population, toolbox, lam, cxpb=0.3, mutpb=0.7)
        assess(offspring)
        population = toolbox.select(population + offspring, mu)


def run_ribs(space: Space, evaluate: Evaluator, seed: int, *, sigma: float) -> None:
    """pyribs MAP-Elites: a grid of strategy × complexity bin, seeded with the seeds, and
    Gaussian emitters (sigma in the scaled space) drawing parents from the grid's elites."""
    from ribs.archives import GridArchive
    from ribs.emitters import GaussianEmitter
    from ribs.schedulers import Scheduler

    bins = max(len(m.niche.bins) + 1 for m in space.manifests.values())
    archive = GridArchive(
        solution_dim=space.dim,
        dims=[len(space.names), bins],
        ranges=[(0, len(space.names)), (0, bins)],
        seed=seed,
    )
    seeds = [space.encode(n) for n in space.names]
    scores = [evaluate(n, space.seeds[n]) for n in space.names]
    measures = [space.cell(n, space.seeds[n]) for n in space.names]
    archive.add(np.array(seeds), np.array(scores), np.array(measures))
    emitters = [
        GaussianEmitter(
            archive,
            sigma=sigma,
            x0=seeds[i % len(seeds)],
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
            strategy, params = space.decode(x)
            objectives.append(evaluate(strategy, params))
            cells.append(space.cell(strategy, params))
        scheduler.tell(np.array(objectives), np.array(cells))


# ---- the loops ---------------------------------------------------------------------------
def run_loop(repo: Path, *, budget: int, full: int) -> dict[str, Any]:
    """`augnes run` until `budget` episodes are spent; the curve from the judgments: one
    evaluation per variant, best over fully evaluated variants (`full` episodes each)."""
    generations = 0
    while True:
        evaluated = loop_curve(repo)
        spent = evaluated["spent"][-1] if evaluated["spent"] else 0
        if spent >= budget:
            break
        # at least a generation; at most what full evaluations of the rest would take
        more = max(1, math.ceil((budget - spent) / full / MUTATIONS))
        done = subprocess.run(
            # -P: this checkout's bot, not the scratch clone's copy of it
            [sys.executable, "-P", "-m", "bot", "run", "-g", str(more), "-m", str(MUTATIONS)],
            cwd=repo,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise SystemExit(f"augnes run failed in {repo}:\n{done.stdout}\n{done.stderr}")
        generations += more
        if generations > budget:
            raise SystemExit(f"{repo}: the loop stopped proposing children")
    kept = sum(1 for e in evaluated["spent"] if e <= budget)
    for key in ("curve", "spent", "strategies"):
        evaluated[key] = evaluated[key][:kept]
    evaluated["episodes"] = evaluated["spent"][-1] if kept else 0
    evaluated["generations"] = generations
    return evaluated


def loop_curve(repo: Path) -> dict[str, Any]:
    shown = subprocess.run(
        ["git", "-C", str(repo), "show", "main:lineage/judgments.jsonl"],
        capture_output=True,
        text=True,
        check=False,
    )
    order: list[str] = []
    rows: dict[str, list[dict[str, Any]]] = {}
    for line in shown.stdout.splitlines():
        j = json.loads(line)
        if j["variant"] not in rows:
            order.append(j["variant"])
            rows[j["variant"]] = []
        rows[j["variant"]].append(j)
    ws = Workspace.open(repo)
    full = {g.goal_id: g.episodes for g in ws.suite.goals}
    curve: list[float] = []
    spent: list[int] = []
    strategies: list[str] = []
    best_strategy = ""
    episodes = early = 0
    for variant in order:
        js = rows[variant]
        episodes += len(js)
        goals = {j["goal_id"] for j in js}
        complete = all(sum(1 for j in js if j["goal_id"] == g) >= full[g] for g in goals)
        score = max(j["benchmark_score"] for j in js) if complete else -math.inf
        early += not complete
        if not curve or score > curve[-1]:
            best_strategy = js[0]["strategy"]
        curve.append(max([score, *curve[-1:]]))
        spent.append(episodes)
        strategies.append(js[0]["strategy"])
    return {
        "curve": curve,
        "spent": spent,
        "episodes": episodes,
        "early_stopped": early,
        "strategies": strategies,
        "best_strategy": best_strategy,
    }


# ---- one run -------------------------------------------------------------------------------
def run_one(
    method: str,
    suite: str,
    seed: int,
    *,
    budget: int,
    episodes: int | None,
    sandbox: str,
    tmp: Path,
) -> dict[str, Any]:
    repo = scratch(
        tmp / f"{method}-{seed}",
        suite=suite,
        seed=seed,
        method=method,
        episodes=episodes,
        sandbox=sandbox,
    )
    started = time.perf_counter()
    space = Space.of(repo, suite)
    ws = Workspace.open(repo)
    full = max(sum(g.episodes for g in ws.goals_for(m)) for m in space.manifests.values())
    episodes_budget = budget * full  # `budget` full evaluations' worth of episodes
    if method in ("augnes", "v06"):
        result = run_loop(repo, budget=episodes_budget, full=full)
        episode_s = None
    else:
        cfg = ws.config.variation
        evaluate = Evaluator(repo, episodes_budget)
        try:
            if method == "random":
                run_random(space, evaluate, seed)
            elif method == "deap":
                run_deap(space, evaluate, seed, sigma=cfg.sigma, rate=cfg.rate)
            else:
                run_ribs(space, evaluate, seed, sigma=cfg.sigma)
        except Budget:
            pass
        finally:
            evaluate.close()
        result = {
            "curve": evaluate.curve,
            "spent": evaluate.spent,
            "episodes": evaluate.episodes,
            "early_stopped": 0,
            "strategies": evaluate.strategies,
            "best_strategy": evaluate.best_strategy,
        }
        episode_s = round(evaluate.episode_s, 2)
    shutil.rmtree(repo, ignore_errors=True)
    result["curve"] = [round(v, 6) if math.isfinite(v) else None for v in result["curve"]]
    result["strategies"] = dict(Counter(result["strategies"]))  # evaluations per strategy
    return {
        "method": method,
        "seed": seed,
        "wall_s": round(time.perf_counter() - started, 2),
        "episode_s": episode_s,
        "start": max(v for v in result["curve"][: len(space.names)] if v is not None),
        "full_evaluation_episodes": full,
        **result,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--suite", default="control")
    parser.add_argument(
        "--budget",
        type=int,
        default=80,
        help="per run: the episodes of this many full evaluations (an early-stopped child "
        "costs only the episodes it ran)",
    )
    parser.add_argument("--seeds", type=int, default=5, help="search seeds per method")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument(
        "--episodes", type=int, help="episodes per goal for every method (default: the suite's)"
    )
    parser.add_argument(
        "--sandbox", default="bwrap", help="the backend every method's evaluations run in"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    out = args.out or ROOT / f"benchmarks/perf/results/efficacy_{args.suite}.json"
    runs: list[dict[str, Any]] = []
    if out.is_file():  # resume: runs already done with the same settings are kept
        old = json.loads(out.read_text())
        if (old.get("budget"), old.get("episodes")) == (args.budget, args.episodes):
            runs = [r for r in old["runs"] if r["method"] in methods]
    done = {(r["method"], r["seed"]) for r in runs}
    with tempfile.TemporaryDirectory(prefix="augnes-efficacy-") as tmp:
        for seed in range(1, args.seeds + 1):
            for method in methods:
                if (method, seed) in done:
                    continue
                run = run_one(
                    method,
                    args.suite,
                    seed,
                    budget=args.budget,
                    episodes=args.episodes,
                    sandbox=args.sandbox,
                    tmp=Path(tmp),
                )
                runs.append(run)
                print(
                    f"{args.suite} {method} seed {seed}: {run['start']:.4f} -> "
                    f"{run['curve'][-1]:.4f} in {len(run['curve'])} evaluations, "
                    f"{run['episodes']} episodes, {run['wall_s']} s",
                    file=sys.stderr,
                    flush=True,
                )
                result = {
                    "suite": args.suite,
                    "budget": args.budget,
                    "episodes": args.episodes,
                    "seeds": args.seeds,
                    "mutations": MUTATIONS,
                    "sandbox": args.sandbox,
                    "runs": runs,
                }
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
