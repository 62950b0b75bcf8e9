"""Pydantic models for every record that crosses a trust or persistence boundary in `lineage/`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Judgment(_Record):
    """One evaluated episode of one variant on one goal."""

    ts: str
    run_id: str
    generation: int = Field(ge=0)
    goal_id: str
    strategy: str
    variant: str
    parent_id: str | None
    mutation_id: str
    operator: str
    commit: str
    episode: int = Field(ge=0)
    seed: int
    reward: float
    reward_norm: float = Field(ge=0, le=1)
    expected_optimal: float
    regret: float
    advantage: float
    success: bool
    failure: str | None
    steps: int = Field(ge=0)
    duration_s: float = Field(ge=0)
    benchmark_score: float = Field(ge=0, le=1)
    # what the trusted side measured of the behaviour (niche descriptors), each in [0, 1]
    measures: dict[str, float] | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.variant, self.goal_id, self.episode)


class Deferral(_Record):
    ts: str
    variant: str
    strategy: str
    reason: str
    generation: int = Field(ge=0)
    until_generation: int = Field(ge=0)


Status = Literal["elite", "active", "deferred", "archived"]


class GoalStats(_Record):
    uses: int
    fails: int
    mean_reward_norm: float
    sum_regret: float
    avg_regret: float


class VariantStats(_Record):
    candidate_id: str
    strategy: str
    family: str
    niche: str
    commit: str
    parents: list[str]
    generation: int
    operator: str
    content: str = ""
    novelty: str = ""  # the content normalised for near-duplicate checks
    tokens: int = 0  # language-model tokens spent on it (operator llm)
    cost: float = 0.0
    summary: str = ""
    early_stopped: bool = False
    clone: bool = False  # stopped after stage one as a clone of its parent
    cell: str = ""  # its behaviour cell inside the niche
    # why an episode failed, as the strategy's worker said it: untrusted text, shown only
    # through report.untrusted_block
    failure: str = ""
    status: Status
    decision: str = ""
    pr: int | None = None
    uses: int
    fails: int
    mean_reward: float
    avg_advantage: float
    benchmark_score: float
    delta_score: float
    selection_score: float
    sum_regret: float
    avg_regret: float
    penalty: float = 0.0
    mutate_next: bool = False
    children: int = 0
    goals: dict[str, GoalStats]
    hidden_dim: int | None = None
    buffer_size: int | None = None
    # benchmark_score on the suite's held-out seeds (evaluated when it became an elite)
    heldout_score: float | None = None
    heldout_episodes: int = 0


class StrategySummary(_Record):
    elite: str | None
    niche: str | None
    variants: int
    uses: int
    fails: int
    best_selection_score: float
    best_benchmark_score: float


class GenerationSummary(_Record):
    generation: int
    run_id: str
    evaluated: int
    merged: int
    closed: int
    skipped: int = 0
    early_stopped: int = 0
    best_selection_score: float
    best_benchmark_score: float
    # the held-out benchmark_score of the elite with the best in-sample one
    best_heldout_score: float | None = None
    avg_regret: dict[str, float]
    wall_s: float
    episode_s: float


class CapacityExperiment(_Record):
    hidden_dim: int
    buffer_size: int
    avg_regret: float
    avg_advantage: float
    model_val_nmse: float
    seconds: float


class CapacitySummary(_Record):
    """The latest capacity decision (lineage/capacity.json has the whole sweep)."""

    generation: int
    decision: Literal["hold", "increase capacity"]
    capacity: int
    next_capacity: int
    epsilon: float
    gain_at_capacity: float | None
    alert: str | None
    experiments: list[CapacityExperiment]


class TemplateUsage(_Record):
    """What the language model cost on one prompt template, and what it gave."""

    calls: int = 0
    tokens: int = 0
    seconds: float = 0.0
    usable: int = 0  # answers that became a child


class LLMUsage(_Record):
    """The language model over a generation (in a journal) or a run (in stats)."""

    calls: int = 0
    tokens: int = 0  # refused answers' too, as the server's `usage` counted them
    cost: float = 0.0
    seconds: float = 0.0
    usable: int = 0
    refused: dict[str, int] = {}  # answers refused, by reason (operators.code.REFUSALS)
    templates: dict[str, TemplateUsage] = {}

    def plus(self, other: LLMUsage) -> LLMUsage:
        names = sorted({*self.templates, *other.templates})
        none = TemplateUsage()
        return LLMUsage(
            calls=self.calls + other.calls,
            tokens=self.tokens + other.tokens,
            cost=round(self.cost + other.cost, 6),
            seconds=round(self.seconds + other.seconds, 3),
            usable=self.usable + other.usable,
            refused={
                k: self.refused.get(k, 0) + other.refused.get(k, 0)
                for k in sorted({*self.refused, *other.refused})
            },
            templates={
                n: TemplateUsage(
                    calls=(a := self.templates.get(n, none)).calls
                    + (b := other.templates.get(n, none)).calls,
                    tokens=a.tokens + b.tokens,
                    seconds=round(a.seconds + b.seconds, 3),
                    usable=a.usable + b.usable,
                )
                for n in names
            },
        )


class OperatorStats(_Record):
    """One variation operator's record, over every generation so far."""

    attempts: int = 0  # times the bandit chose it
    made: int = 0  # a changed child came out
    invalid: int = 0  # … that failed its guard (parse, imports, size) and was discarded
    duplicate: int = 0  # … that equalled or nearly equalled a known variant
    cached: int = 0  # … whose content had failed before (the failure cache)
    planned: int = 0  # became a candidate
    evaluated: int = 0
    improved: int = 0  # evaluated and beat its first parent's benchmark_score
    merged: int = 0
    share: float = 0.0  # its share of the next children
    tokens: int = 0  # language-model tokens, refused answers included
    cost: float = 0.0
    llm: LLMUsage | None = None  # the llm operator's calls, seconds and answers by template


class StrategyStatsFile(_Record):
    schema_version: Literal[1] = 1
    generation: int
    formula: str
    weights: dict[str, float]
    baselines: dict[str, float]
    elites: dict[str, str]
    variants: dict[str, VariantStats]
    strategies: dict[str, StrategySummary]
    generations: list[GenerationSummary]
    failure_cache: list[str] = []
    capacity: CapacitySummary | None = None
    operators: dict[str, OperatorStats] = {}


class GoalRegret(_Record):
    sum_regret: float
    avg_regret: float
    judgments: int
    distribution: dict[str, float]  # min, p25, median, p75, max
    trend: dict[str, float]  # generation -> avg_regret of that generation's judgments


class RegretFile(_Record):
    schema_version: Literal[1] = 1
    generation: int
    goals: dict[str, GoalRegret]
