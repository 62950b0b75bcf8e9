"""Capacity experiments (the seed document's MetaJudgmentController).

For every (buffer_size, hidden_dim) pair: train each goal's world model on the newest
`buffer_size` transitions, evaluate a model-based variant with those models on the suite's
first `episodes` seeds of every goal, and record regret, advantage, model error and cost.
The marginal gain per doubling of capacity — the fall in normalised regret (1 − reward_norm,
comparable across goals) per doubling of hidden units, at the largest buffer — decides: below
ε, *hold* the capacity of new model-based children (and raise an alert); otherwise *increase
capacity* by one doubling. The loop reads that decision when it varies model-based children.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from bot.candidates import archive_ref
from bot.errors import ConfigError, LineageFileError, RepoError
from bot.evaluator import Episode, strategy_session
from bot.lineage_files import load_json
from bot.records import CapacityExperiment, CapacitySummary
from bot.sandbox import Sandbox
from bot.scoring import reward_norm
from bot.workspace import Workspace
from bot.world_model.model import Fitted, deserialise

Decision = Literal["hold", "increase capacity"]
HOLD: Decision = "hold"
INCREASE: Decision = "increase capacity"
CAPACITY_FILE = "capacity.json"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GoalOutcome(_Frozen):
    avg_regret: float
    avg_regret_norm: float
    avg_advantage: float
    mean_reward_norm: float
    val_mse: float
    val_nmse: float
    failures: int


class Experiment(_Frozen):
    hidden_dim: int
    buffer_size: int
    avg_regret: float  # mean raw regret over every episode of every goal
    avg_regret_norm: float  # mean over goals of 1 − reward_norm
    avg_advantage: float
    model_val_mse: float  # mean over goals
    model_val_nmse: float
    train_seconds: float
    eval_seconds: float
    goals: dict[str, GoalOutcome]


class Gain(_Frozen):
    buffer_size: int
    from_dim: int
    to_dim: int
    gain: float  # fall of avg_regret_norm per doubling of hidden units


class Sweep(_Frozen):
    generation: int
    ts: str
    variant: str
    episodes: int
    epsilon: float
    hidden_dims: list[int]
    buffer_sizes: list[int]
    experiments: list[Experiment]
    gains: list[Gain]
    capacity: int  # the capacity the decision was taken at
    gain_at_capacity: float | None
    decision: Literal["hold", "increase capacity"]
    next_capacity: int
    alert: str | None
    seconds: float


class CapacityFile(_Frozen):
    schema_version: Literal[1] = 1
    latest: Sweep
    history: list[Sweep] = []


def committed_capacity(ws: Workspace, commit: str) -> CapacityFile | None:
    raw = ws.repo.read_file(commit, ws.lineage(CAPACITY_FILE))
    if raw is None:
        return None
    return load_json(raw, CapacityFile, source=f"{commit[:10]}:{ws.lineage(CAPACITY_FILE)}")


def gains(experiments: Sequence[Experiment]) -> list[Gain]:
    """Per buffer size, between successive hidden sizes: the fall in normalised regret per
    doubling (positive: the larger model did better)."""
    out = []
    for size in sorted({e.buffer_size for e in experiments}):
        row = sorted((e for e in experiments if e.buffer_size == size), key=lambda e: e.hidden_dim)
        for a, b in zip(row, row[1:], strict=False):
            doublings = math.log2(b.hidden_dim / a.hidden_dim)
            out.append(
                Gain(
                    buffer_size=size,
                    from_dim=a.hidden_dim,
                    to_dim=b.hidden_dim,
                    gain=round((a.avg_regret_norm - b.avg_regret_norm) / doublings, 6),
                )
            )
    return out


def decide(
    experiments: Sequence[Experiment], *, capacity: int, epsilon: float
) -> tuple[Literal["hold", "increase capacity"], int, float | None, str | None]:
    """The decision at the current `capacity`, read at the largest buffer size: the gain
    of its next doubling (from the nearest measured size at or below it). Returns the
    decision, the next capacity, the gain it rests on, and the alert text when holding."""
    if not experiments:
        raise ConfigError("no capacity experiment to decide on")
    largest = max(e.buffer_size for e in experiments)
    dims = sorted({e.hidden_dim for e in experiments if e.buffer_size == largest})
    at = max((d for d in dims if d <= capacity), default=dims[0])
    above = [d for d in dims if d > at]
    step = next(
        (g for g in gains(experiments) if g.buffer_size == largest and g.from_dim == at), None
    )
    if step is None or not above:
        alert = (
            f"capacity {capacity}: no larger model was measured (largest {dims[-1]}); "
            "holding — sweep larger hidden sizes to learn more"
        )
        return HOLD, capacity, None, alert
    if step.gain < epsilon:
        alert = (
            f"capacity gain {step.gain:+.4f} per doubling ({step.from_dim} → {step.to_dim} "
            f"hidden units, {largest} transitions) is below ε = {epsilon}: holding the "
            f"capacity of new model-based children at {capacity}"
        )
        return HOLD, capacity, step.gain, alert
    return INCREASE, step.to_dim, step.gain, None


# ---- running the experiments ---------------------------------------------------------------
def _train_in_process(
    root: str, goal_id: str, hidden_dim: int, buffer_size: int
) -> tuple[str, int, int, bytes, str, dict[str, object]]:
    """One model, trained in a worker process (one torch thread: two of these share the
    machine's two cores better than one with two threads)."""
    import torch

    torch.set_num_threads(1)
    from bot.world_model.store import train_goal

    ws = Workspace.open(Path(root))
    record, data, _ = train_goal(ws, goal_id, hidden_dim, generation=-1, buffer_size=buffer_size)
    return goal_id, hidden_dim, buffer_size, data, record.sha256, record.model_dump()


def sweep(
    ws: Workspace,
    sandbox: Sandbox,
    *,
    hidden_dims: Sequence[int],
    buffer_sizes: Sequence[int],
    variant: str | None,
    episodes: int,
    parallel: int,
    progress: Callable[[str], None] = lambda line: None,
) -> Sweep:
    started = time.perf_counter()
    main = ws.main_sha()
    stats = ws.committed_stats(main)
    if stats is None:
        raise RepoError("no lineage on the base branch yet: run a generation first")
    variant = variant or _model_based_elite(ws, main)
    if variant not in stats.variants or ws.repo.resolve(archive_ref(variant)) is None:
        raise RepoError(f"no archived variant `{variant}`; `augnes stats --all` lists them")
    strategy = stats.variants[variant].strategy
    commit = ws.repo.resolve(archive_ref(variant))
    assert commit is not None
    if ws.read_strategy(commit, strategy).manifest.world_model is None:
        raise ConfigError(
            f"{variant} ({strategy}) does not use a world model: choose a model-based variant"
        )
    goals = [
        g.goal_id
        for g in ws.goals_for(ws.read_strategy(commit, strategy).manifest)
        if g.kind == "gymnasium"
    ]
    jobs = [(g, h, b) for b in buffer_sizes for h in hidden_dims for g in goals]
    progress(
        f"training {len(jobs)} models ({len(buffer_sizes)} buffer sizes × "
        f"{len(hidden_dims)} hidden sizes × {len(goals)} goals), {parallel} at a time"
    )
    models: dict[tuple[str, int, int], Fitted] = {}
    trained_at = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=parallel, mp_context=context) as pool:
        futures = [pool.submit(_train_in_process, str(ws.repo.root), *job) for job in jobs]
        for n, future in enumerate(futures, 1):
            goal, h, b, data, digest, record = future.result()
            models[(goal, h, b)] = deserialise(
                data, goal_id=goal, sha256=digest, source=f"{goal} h{h} b{b}", stats=record
            )
            if n % len(goals) == 0:
                progress(f"  trained {n}/{len(jobs)}")
    train_total = time.perf_counter() - trained_at
    baselines = _baselines(ws, main)
    combos = [(h, b) for b in buffer_sizes for h in hidden_dims]

    def run(combo: tuple[int, int]) -> Experiment:
        h, b = combo
        took = time.perf_counter()
        outcome = _evaluate(
            ws, sandbox, commit, strategy, episodes, {g: models[(g, h, b)] for g in goals}
        )
        experiment = _experiment(
            ws,
            h,
            b,
            outcome,
            models,
            baselines,
            train_seconds=sum(float(models[(g, h, b)].stats["seconds"]) for g in goals),
            eval_seconds=time.perf_counter() - took,
        )
        progress(
            f"  hidden {h:>4} · buffer {b:>6}: avg_regret {experiment.avg_regret:.2f}, "
            f"normalised {experiment.avg_regret_norm:.4f}, model nMSE {experiment.model_val_nmse:.5f}"
        )
        return experiment

    with ThreadPoolExecutor(max_workers=parallel) as threads:
        experiments = list(threads.map(run, combos))
    prior = committed_capacity(ws, main)
    capacity = prior.latest.next_capacity if prior else ws.config.world_model.hidden_dim
    epsilon = ws.config.world_model.epsilon
    decision, next_capacity, gain, alert = decide(experiments, capacity=capacity, epsilon=epsilon)
    progress(f"training took {train_total:.1f} s in all")
    return Sweep(
        generation=stats.generation,
        ts=datetime.now(UTC).isoformat(timespec="seconds"),
        variant=variant,
        episodes=episodes,
        epsilon=epsilon,
        hidden_dims=sorted(hidden_dims),
        buffer_sizes=sorted(buffer_sizes),
        experiments=experiments,
        gains=gains(experiments),
        capacity=capacity,
        gain_at_capacity=gain,
        decision=decision,
        next_capacity=next_capacity,
        alert=alert,
        seconds=round(time.perf_counter() - started, 3),
    )


def _model_based_elite(ws: Workspace, main: str) -> str:
    stats = ws.committed_stats(main)
    assert stats is not None
    for strategy, cid in sorted(stats.elites.items()):
        src = ws.strategies_on(main).get(strategy)
        if src is not None and src.manifest.world_model is not None:
            return cid
    raise ConfigError(
        "no model-based strategy (one whose strategy.toml has [world_model]) has an elite on "
        f"{ws.base}; add one, or name a variant with --variant"
    )


def _baselines(ws: Workspace, main: str) -> dict[str, float]:
    archive = ws.load_archive(main, with_pending=False)
    return archive.baselines(window=ws.config.selection.stats_window)


def _evaluate(
    ws: Workspace,
    sandbox: Sandbox,
    commit: str,
    strategy: str,
    episodes: int,
    models: dict[str, Fitted],
) -> list[Episode]:
    with strategy_session(ws, sandbox, commit, strategy, models=models.get) as session:
        goals = ws.goals_for(ws.read_strategy(commit, strategy).manifest)
        return session.run([(g, ws.suite.seeds(g)[:episodes], 0) for g in goals])


def _experiment(
    ws: Workspace,
    hidden_dim: int,
    buffer_size: int,
    episodes: Sequence[Episode],
    models: dict[tuple[str, int, int], Fitted],
    baselines: dict[str, float],
    *,
    train_seconds: float,
    eval_seconds: float,
) -> Experiment:
    goals = {}
    regrets: list[float] = []
    for goal in (g for g in ws.suite.goals if any(e.goal_id == g.goal_id for e in episodes)):
        mine = [e for e in episodes if e.goal_id == goal.goal_id]
        if not mine:
            raise LineageFileError(f"no episode of {goal.goal_id} was run")
        norms = [
            reward_norm(e.reward, min_reward=goal.min_reward, optimal_reward=goal.optimal_reward)
            for e in mine
        ]
        raw = [goal.optimal_reward - e.reward for e in mine]
        regrets += raw
        mean_norm = sum(norms) / len(norms)
        stats = models[(goal.goal_id, hidden_dim, buffer_size)].stats
        goals[goal.goal_id] = GoalOutcome(
            avg_regret=round(sum(raw) / len(raw), 4),
            avg_regret_norm=round(1 - mean_norm, 6),
            avg_advantage=round(mean_norm - baselines.get(goal.goal_id, mean_norm), 6),
            mean_reward_norm=round(mean_norm, 6),
            val_mse=float(stats["val_mse"]),
            val_nmse=float(stats["val_nmse"]),
            failures=sum(1 for e in mine if e.failure),
        )
    n = len(goals)
    return Experiment(
        hidden_dim=hidden_dim,
        buffer_size=buffer_size,
        avg_regret=round(sum(regrets) / len(regrets), 4),
        avg_regret_norm=round(sum(g.avg_regret_norm for g in goals.values()) / n, 6),
        avg_advantage=round(sum(g.avg_advantage for g in goals.values()) / n, 6),
        model_val_mse=round(sum(g.val_mse for g in goals.values()) / n, 8),
        model_val_nmse=round(sum(g.val_nmse for g in goals.values()) / n, 6),
        train_seconds=round(train_seconds, 3),
        eval_seconds=round(eval_seconds, 3),
        goals=goals,
    )


def summary(sweep: Sweep) -> CapacitySummary:
    """What strategy_stats.json carries of the latest sweep."""
    return CapacitySummary(
        generation=sweep.generation,
        decision=sweep.decision,
        capacity=sweep.capacity,
        next_capacity=sweep.next_capacity,
        epsilon=sweep.epsilon,
        gain_at_capacity=sweep.gain_at_capacity,
        alert=sweep.alert,
        experiments=[
            CapacityExperiment(
                hidden_dim=e.hidden_dim,
                buffer_size=e.buffer_size,
                avg_regret=e.avg_regret,
                avg_advantage=e.avg_advantage,
                model_val_nmse=e.model_val_nmse,
                seconds=round(e.train_seconds + e.eval_seconds, 3),
            )
            for e in sweep.experiments
        ],
    )


def capacity_figure(sweep: Sweep) -> str:
    """hidden_dim against avg_regret (a line per buffer size), the normalised regret, the
    models' validation error, and each goal's error at the largest buffer."""
    from bot.plots import Panel, figure

    sizes = sorted({e.buffer_size for e in sweep.experiments})

    def lines(value: Callable[[Experiment], float]) -> list[tuple[str, list[tuple[float, float]]]]:
        return [
            (
                f"{size} transitions",
                [
                    (float(e.hidden_dim), value(e))
                    for e in sorted(sweep.experiments, key=lambda e: e.hidden_dim)
                    if e.buffer_size == size
                ],
            )
            for size in sizes
        ]

    largest = [e for e in sweep.experiments if e.buffer_size == sizes[-1]]
    goals = sorted({g for e in largest for g in e.goals})
    per_goal = [
        (
            goal,
            [
                (float(e.hidden_dim), e.goals[goal].val_nmse)
                for e in sorted(largest, key=lambda e: e.hidden_dim)
            ],
        )
        for goal in goals
    ]
    panels = [
        Panel(
            "avg regret", "hidden units", "avg regret", lines(lambda e: e.avg_regret), log2_x=True
        ),
        Panel(
            "normalised regret (1 − reward_norm)",
            "hidden units",
            "regret, normalised",
            lines(lambda e: e.avg_regret_norm),
            log2_x=True,
        ),
        Panel(
            "model error (validation nMSE, mean of goals)",
            "hidden units",
            "nMSE",
            lines(lambda e: e.model_val_nmse),
            log2_x=True,
        ),
        Panel(
            f"model error per goal ({sizes[-1]} transitions)",
            "hidden units",
            "nMSE",
            per_goal,
            log2_x=True,
        ),
    ]
    verdict = f"{sweep.decision} (capacity {sweep.capacity} → {sweep.next_capacity})"
    return figure(
        panels, columns=2, title=f"Capacity sweep, generation {sweep.generation}: {verdict}"
    )
