"""Suites and goals: `benchmarks/<suite>/suite.toml` and `benchmarks/<suite>/goals/*.toml`."""

from __future__ import annotations

import re
import tomllib
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.errors import GoalError, read_text


class Goal(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    goal_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    # gymnasium: an environment stepped by the trusted side; binpacking: online 1D bin
    # packing, the strategy a priority function over the bins an item fits (FunSearch)
    kind: Literal["gymnasium", "binpacking", "cases", "pytest"] = "gymnasium"
    env_id: str = ""
    env_kwargs: dict[str, Any] = {}
    # binpacking: each episode is one instance of `items` Weibull(shape, scale) sizes,
    # rounded and clipped to 1…capacity, drawn from the episode's seed
    items: int = Field(5000, ge=1, le=10_000_000)
    capacity: int = Field(100, ge=1, le=1_000_000)
    weibull_shape: float = Field(3.0, gt=0)
    weibull_scale: float = Field(45.0, gt=0)
    # cases: input → expected output, one JSON object per line of `cases` (relative to the
    # suite folder); the strategy's policy is called once per input inside the sandbox; the
    # trusted side compares exactly, within `tolerance`, or with `checker` ("file.py:function"
    # in the suite folder, called as checker(input, expected, output) -> bool). Each episode
    # is one fold (every `episodes`-th case); reward = the share passed, minus
    # `speed_weight` × the mean seconds per case.
    cases: str = ""
    compare: Literal["exact", "tolerance", "checker"] = "exact"
    tolerance: float = Field(1e-6, ge=0)
    checker: str = ""
    speed_weight: float = Field(0.0, ge=0)
    # pytest (weaker: the code under test shares the test process and could forge the
    # verdict; use `cases` for untrusted code): the test files in `tests` (a folder in the
    # suite folder) run in the sandbox against the strategy's folder; reward = the share of
    # tests passed, read from pytest's JUnit XML report
    tests: str = ""
    source: str = ""  # the suite folder, set when the suite is loaded
    suite: str = ""  # the suite's name, set when the suite is loaded
    episode_seed: int | None = None  # the suite's, set when the suite is loaded
    heldout_seed: int | None = None  # the suite's, set when the suite is loaded
    min_reward: float
    optimal_reward: float
    episodes: int = Field(10, ge=1, le=10_000)
    # episodes on the held-out seeds, never used to select anything (default: `episodes`)
    heldout_episodes: int | None = Field(None, ge=1, le=10_000)
    max_steps: int = Field(500, ge=1, le=1_000_000)
    wall_limit_s: float = Field(60.0, gt=0, le=86_400)
    weight: float = Field(1.0, gt=0, le=1000)
    # evaluated for every candidate but left out of S and benchmark_score: only the merge
    # rule's regression guard reads it, so over-fitting the scored goals shows
    holdout: bool = False

    @model_validator(mode="after")
    def _range(self) -> Goal:
        if not self.optimal_reward > self.min_reward:
            raise ValueError("`optimal_reward` must be greater than `min_reward`")
        if self.kind == "gymnasium" and not self.env_id:
            raise ValueError("a gymnasium goal needs `env_id` (for example CartPole-v1)")
        if self.kind == "pytest" and not self.tests:
            raise ValueError("a pytest goal needs `tests`: a folder of test files in the suite")
        if self.kind == "cases" and not self.cases:
            raise ValueError("a cases goal needs `cases`: a JSON-lines file in the suite folder")
        if self.compare == "checker" and not re.fullmatch(r"[\w-]+\.py:\w+", self.checker):
            raise ValueError('compare = "checker" needs `checker` = "file.py:function"')
        return self


HELDOUT_OFFSET = 1_000_000_007  # the held-out seeds' default distance from the episode seeds


class SuiteFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    episode_seed: int = Field(1000, ge=0)
    # where the held-out seeds start (default: episode_seed + 1,000,000,007): instances no
    # variant is ever selected on, where each niche's elite is scored when it merges
    heldout_seed: int | None = Field(None, ge=0)
    # behaviour descriptors for the cells inside a niche: name -> ascending bin edges (a
    # measure the evaluator records, `goal:<id>`, or a parameter)
    descriptors: dict[str, tuple[float, ...]] = {}


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    episode_seed: int
    goals: tuple[Goal, ...]
    members: tuple[str, ...] = ()  # the suites combined into this one (empty: just itself)
    descriptors: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return self.members or (self.name,)

    def goals_for(self, suites: Sequence[str]) -> tuple[Goal, ...]:
        """The goals of the suites a strategy declares."""
        return tuple(g for g in self.goals if not g.suite or g.suite in suites)

    def goal(self, goal_id: str) -> Goal:
        for goal in self.goals:
            if goal.goal_id == goal_id:
                return goal
        known = ", ".join(g.goal_id for g in self.goals)
        raise GoalError(f"suite `{self.name}` has no goal `{goal_id}`; known goals: {known}")

    def scored_weights(self) -> dict[str, float]:
        """Goal weights for S and benchmark_score: held-out goals excluded."""
        return {g.goal_id: g.weight for g in self.goals if not g.holdout}

    @property
    def holdout(self) -> frozenset[str]:
        return frozenset(g.goal_id for g in self.goals if g.holdout)

    def seeds(self, goal: Goal) -> tuple[int, ...]:
        """The episode seeds every variant faces on `goal` (paired comparison)."""
        seed = goal.episode_seed if goal.episode_seed is not None else self.episode_seed
        base = seed + (zlib.crc32(goal.goal_id.encode()) % 100_000) * 1000
        return tuple(base + i for i in range(goal.episodes))

    def heldout_seeds(self, goal: Goal) -> tuple[int, ...]:
        """The held-out seeds of `goal`: never used to select anything, only to score what
        was selected."""
        seed = goal.heldout_seed
        if seed is None:
            start = goal.episode_seed if goal.episode_seed is not None else self.episode_seed
            seed = start + HELDOUT_OFFSET
        base = seed + (zlib.crc32(goal.goal_id.encode()) % 100_000) * 10_000
        return tuple(base + i for i in range(goal.heldout_episodes or goal.episodes))


def _errors(exc: ValidationError) -> str:
    return "; ".join(
        f"`{'.'.join(str(p) for p in e['loc']) or '(top level)'}`: {e['msg']}" for e in exc.errors()
    )


def parse_goal(text: str, *, source: str) -> Goal:
    try:
        return Goal.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise GoalError(f"{source}: not valid TOML ({exc}); fix the syntax") from None
    except ValidationError as exc:
        raise GoalError(f"{source}: {_errors(exc)}") from None


def load_suite(benchmarks: Path, name: str) -> Suite:
    """Load a suite. A malformed goal file stops it, with every problem named: a suite
    changes only when its owner changes it, never by a goal quietly leaving the score."""
    folder = benchmarks / name
    suite_file = folder / "suite.toml"
    if not suite_file.is_file():
        raise GoalError(f"{suite_file}: missing; a suite needs suite.toml and goals/*.toml")
    try:
        meta = SuiteFile.model_validate(tomllib.loads(read_text(suite_file, error=GoalError)))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        detail = _errors(exc) if isinstance(exc, ValidationError) else str(exc)
        raise GoalError(f"{suite_file}: {detail}") from None
    goals: list[Goal] = []
    problems: list[str] = []
    for path in sorted((folder / "goals").glob("*.toml")):
        try:
            goal = parse_goal(read_text(path, error=GoalError), source=str(path))
            goal = goal.model_copy(
                update={
                    "source": str(folder.resolve()),
                    "suite": meta.name,
                    "episode_seed": meta.episode_seed,
                    "heldout_seed": meta.heldout_seed,
                }
            )
        except GoalError as exc:
            problems.append(exc.message)
            continue
        if any(g.goal_id == goal.goal_id for g in goals):
            problems.append(f"{path}: `goal_id` {goal.goal_id!r} is used twice; rename one")
            continue
        goals.append(goal)
    if problems:
        raise GoalError(
            "; ".join(problems) + f"; fix the goal file(s) of suite {meta.name}, or move them "
            f"out of {folder / 'goals'}"
        )
    if not goals:
        raise GoalError(f"{folder / 'goals'}: no goal file (goals/*.toml)")
    return Suite(
        meta.name, meta.description, meta.episode_seed, tuple(goals), descriptors=meta.descriptors
    )


def combine(suites: Sequence[Suite]) -> Suite:
    """Several suites evaluated in one run; goal ids must not repeat across them."""
    if len(suites) == 1:
        return suites[0]
    seen: dict[str, str] = {}
    for suite in suites:
        for goal in suite.goals:
            if goal.goal_id in seen:
                raise GoalError(
                    f"goal `{goal.goal_id}` is in both suite {seen[goal.goal_id]} and "
                    f"{suite.name}; rename one to evaluate them in one run"
                )
            seen[goal.goal_id] = suite.name
    return Suite(
        "+".join(s.name for s in suites),
        "; ".join(s.description for s in suites if s.description),
        suites[0].episode_seed,
        tuple(g for s in suites for g in s.goals),
        tuple(s.name for s in suites),
        descriptors={k: v for s in suites for k, v in s.descriptors.items()},
    )
