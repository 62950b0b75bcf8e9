"""Configuration: `[tool.augnes]` in pyproject.toml, or `augnes.toml`, validated by pydantic.

Every default is the one in DESIGN §3. A bad value is reported with the file, the dotted
field and the allowed range.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.errors import ConfigError, read_text
from bot.operators.code import DEFAULT_IMPORTS


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SelectionConfig(_Section):
    formula: Literal["weighted", "v06"] = "weighted"
    # In the merge comparison, measure delta_score of child and elite against the elite
    # ("elite": the elite counts 0) or each against its own parent ("parent").
    compare_delta: Literal["elite", "parent"] = "elite"
    w_mean: float = Field(0.5, ge=0, le=1)
    w_advantage: float = Field(0.3, ge=0, le=1)
    w_delta: float = Field(0.2, ge=0, le=1)
    min_improvement: float = Field(0.0005, ge=0, le=1)
    # "absolute": a child must beat its elite's S by min_improvement; "regret": by
    # min_improvement times the elite's remaining regret (1 − its mean reward_norm), a
    # margin that shrinks as the elite nears the optimum
    margin: Literal["absolute", "regret"] = "absolute"
    max_goal_regression: float = Field(0.05, ge=0, le=1)
    max_failure_rate: float = Field(0.2, ge=0, le=1)
    # a child founding an empty niche (a new strategy folder) may trail the elite of the
    # niche it came from by at most this much mean reward_norm
    found_margin: float = Field(0.1, ge=0, le=1)
    paired_test: bool = False
    alpha: float = Field(0.1, gt=0, lt=1)
    stats_window: int = Field(2000, ge=10, le=10_000_000)


class ParentConfig(_Section):
    # "archive": DGM-style, any archived variant by its weight; "best": every child from the
    # single best elite on main (the v0.6 loop, kept to compare with)
    policy: Literal["archive", "best"] = "archive"
    # with "archive": the share of each generation's children drawn from the best elite
    # (exploitation), the rest from the archive by the weights below (exploration)
    elite_share: float = Field(0.5, ge=0, le=1)
    # weight sigmoid(k·(S − S_mid)/MAD) / (1 + children): S measured in median absolute
    # deviations of the pool's S from their median, so k means the same at any spread
    k: float = Field(1.0, gt=0, le=1000)
    s_mid: float | Literal["median"] = "median"
    mutation_boost: float = Field(2.0, ge=1, le=100)
    # a strategy whose variants have had fewer children than this (a newly added one) gets
    # one child a generation until it has them, whatever its S: the weights below would
    # starve a newcomer that starts behind (up to half of a generation's children; 0: off)
    newcomer_children: int = Field(3, ge=0, le=1000)
    # the parents' pool: the `pool_size` best variants by S, plus every strategy's elite;
    # a child stopped after stage one (it trailed its elite, or cloned its parent) is never
    # a parent
    pool_size: int = Field(16, ge=1, le=1_000_000)
    # FunSearch's islands (0: none): the children are shared among this many islands, each
    # choosing parents among its own variants; every `island_reset` generations the worse
    # half of the islands (by their best S) is emptied and restarted from the best variant
    # of a surviving island
    islands: int = Field(0, ge=0, le=64)
    island_reset: int = Field(10, ge=1, le=100_000)


OperatorName = Literal[
    "perturb",
    "crossover",
    "resample",
    "global",
    "cma",
    "design",
    "code-constant",
    "code-operator",
    "code-condition",
    "code-delete",
    "code-duplicate",
    "code-swap",
    "llm",
]
OPERATOR_NAMES: tuple[OperatorName, ...] = OperatorName.__args__  # type: ignore[attr-defined]


class VariationConfig(_Section):
    # the operators children may come from (see OPERATOR_NAMES; the code-* ones edit the
    # strategy's source); a bandit shares the children among them by their record of
    # improving on the parent. evolve.yml's input narrows the list.
    # ("design" is not the bandit's: with it listed, a family's first `design_points`
    # children, and a restarted niche's next few, come from the space-filling design)
    operators: tuple[OperatorName, ...] = Field(
        ("design", "perturb", "crossover", "resample", "global", "cma"), min_length=1
    )
    # perturb's step: this share of each parameter's declared range (a parameter's own
    # `sigma` in the manifest wins), times the niche's multiplier, which the 1/5 success
    # rule adapts when `adapt_sigma` is on
    sigma: float = Field(0.05, gt=0, le=1)
    adapt_sigma: bool = True
    rate: float = Field(0.2, gt=0, le=1)
    # a family's first children: points of a space-filling design over its parameters
    design: Literal["sobol", "lhs"] = "sobol"
    design_points: int = Field(4, ge=0, le=100_000)
    # CMA-ES per niche: its initial step (share of each range) and population (0: 4 + 3 ln n)
    cma_sigma: float = Field(0.3, gt=0, le=1)
    cma_popsize: int = Field(0, ge=0, le=256)
    # once a niche has stalled (its first restart), this share of its children are CMA-ES
    # samples (the bandit shares the rest): a run needs tens of populations to adapt, which
    # a bandit judging each child against its parent would never give it
    cma_share: float = Field(0.8, ge=0, le=1)
    # … and once the niche has had this many children: in a niche's first generations the
    # quick operators improve faster than a run still at its first, wide populations
    cma_after: int = Field(100, ge=0, le=1_000_000)
    # a niche whose children have not merged for this many generations explores again:
    # half the design again, perturb's step reset (a CMA-ES run ends by its own criteria)
    # (0: never)
    restart_after: int = Field(5, ge=0, le=100_000)
    bandit_floor: float = Field(0.05, ge=0, le=1)  # the least share any operator keeps
    max_attempts: int = Field(20, ge=1, le=1000)
    # code operators: what a changed source may import, and how large it may grow
    allowed_imports: tuple[str, ...] = DEFAULT_IMPORTS
    max_source_bytes: int = Field(65_536, ge=256, le=10_000_000)
    # novelty: parameters compared at this many significant digits (near-equal = equal)
    novelty_digits: int = Field(3, ge=1, le=17)
    # MAP-Elites: a child whose niche differs from its parent's goes to that niche's folder,
    # or founds a new folder (merged as a new strategy) when the niche has none
    found_niches: bool = True


class LLMConfig(_Section):
    """The prompt-based operator `llm`: any OpenAI-compatible chat endpoint (a hosted
    provider, llama.cpp's server, Ollama's /v1). AUGNES_LLM_BASE_URL and AUGNES_LLM_MODEL
    override the first two; the key comes from the environment variable `api_key_env`."""

    base_url: str = ""  # e.g. https://api.openai.com/v1 or http://127.0.0.1:8080/v1
    model: str = ""
    api_key_env: str = Field("AUGNES_LLM_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    templates: tuple[str, ...] = ("performance", "stability", "speed", "memory", "exploration")
    prompts_dir: str = ".augnes/prompts"  # your own templates: <name>.md
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(4096, ge=16, le=1_000_000)
    timeout_s: float = Field(120.0, gt=0, le=3600)
    # per child: new answers asked for after a refused one (at most max_retries + 1 calls);
    # a child the model gives nothing usable for comes from the other operators
    max_retries: int = Field(1, ge=0, le=10)
    max_http_retries: int = Field(3, ge=0, le=10)  # after 429, 5xx, timeouts
    max_wait_s: float = Field(60.0, ge=0, le=3600)  # the longest single backoff
    # per generation: model calls, tokens, and seconds waited for answers (a call's wait is
    # cut to what is left); whichever runs out first rests the operator until the next one
    budget_calls: int = Field(12, ge=0, le=1_000_000)
    budget_tokens: int = Field(200_000, ge=0, le=1_000_000_000)
    budget_s: float = Field(300.0, ge=0, le=86_400)
    price_input_per_mtok: float = Field(0.0, ge=0)  # for the recorded cost
    price_output_per_mtok: float = Field(0.0, ge=0)


class LimitsConfig(_Section):
    """What one confined worker may use (bwrap and docker backends)."""

    memory_mb: int = Field(1024, ge=64, le=1 << 20)
    cpu_seconds: int = Field(600, ge=1, le=86_400)
    processes: int = Field(64, ge=4, le=100_000)
    open_files: int = Field(256, ge=32, le=1 << 20)
    scratch_mb: int = Field(64, ge=1, le=1 << 20)
    tmp_mb: int = Field(64, ge=1, le=1 << 20)
    shm_mb: int = Field(16, ge=1, le=1 << 20)
    output_kb: int = Field(1024, ge=16, le=1 << 20)


class EvaluationConfig(_Section):
    # "auto": docker when an engine answers, else bwrap when it works here, else an error.
    # "none" runs strategies unconfined, and only when asked for by that name.
    sandbox: Literal["auto", "bwrap", "docker", "none"] = "auto"
    # the docker backend's image, built from benchmarks/sandbox/Dockerfile
    docker_image: str = Field("augnes-worker:latest", min_length=1, max_length=255)
    limits: LimitsConfig = LimitsConfig()
    # candidates evaluated at once, each in a worker process of its own (about one per core)
    workers: int = Field(1, ge=1, le=64)
    first_stage_episodes: int = Field(2, ge=0, le=1000)
    # evaluate each new elite on its suite's held-out seeds (never used for selection)
    heldout: bool = True
    early_stop_margin: float = Field(0.1, ge=0, le=1)
    reply_timeout_s: float = Field(10.0, gt=0, le=3600)
    start_timeout_s: float = Field(30.0, gt=0, le=3600)


class ForgeConfig(_Section):
    """Where pull requests live. `github` reads its repository, API and credentials from the
    environment Actions provides (GITHUB_REPOSITORY, GITHUB_API_URL, GITHUB_TOKEN, or
    AUGNES_APP_ID and AUGNES_APP_PRIVATE_KEY for a GitHub App) unless set here."""

    kind: Literal["local", "github"] = "local"
    repository: str = ""  # owner/name
    api_url: str = ""
    remote: str = ""  # the git URL to push to (default: beside the API)
    bot_login: str = ""
    write_spacing_s: float = Field(1.0, ge=0, le=60)


class ReflectionConfig(_Section):
    low_reward: float = Field(0.1, ge=0, le=1)
    penalty: float = Field(0.5, ge=0, le=1)
    failure_limit: int = Field(2, ge=1, le=100)
    cooldown_generations: int = Field(3, ge=0, le=1000)


class WorldModelConfig(_Section):
    """The explicit world model (`augnes world-model`, `augnes capacity`). With `enabled`,
    the loop samples transitions and retrains the models after each generation in the
    background, and the next generation's lineage commit carries them."""

    enabled: bool = False
    hidden_dim: int = Field(32, ge=2, le=1024)  # the capacity new model-based children start at
    layers: int = Field(2, ge=1, le=2)
    buffer_size: int = Field(10_000, ge=100, le=1_000_000)
    transitions: int = Field(10_000, ge=100, le=1_000_000)  # collected per goal per epoch
    val_fraction: float = Field(0.2, gt=0, lt=0.9)
    max_epochs: int = Field(300, ge=1, le=100_000)
    patience: int = Field(12, ge=1, le=10_000)
    # capacity experiments: below this gain in normalised regret per doubling, hold
    epsilon: float = Field(0.01, ge=0, le=1)


class Config(_Section):
    @property
    def suite_names(self) -> tuple[str, ...]:
        return (self.suite,) if isinstance(self.suite, str) else tuple(self.suite)

    base_branch: str = "main"
    # the suite (or suites, evaluated in the same run: each strategy on the ones its
    # manifest's `suites` names) under benchmarks/
    suite: str | tuple[str, ...] = "control"
    strategies_dir: str = "strategies"
    benchmarks_dir: str = "benchmarks"
    lineage_dir: str = "lineage"
    seed: int = Field(0, ge=0)
    selection: SelectionConfig = SelectionConfig()
    parents: ParentConfig = ParentConfig()
    variation: VariationConfig = VariationConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    reflection: ReflectionConfig = ReflectionConfig()
    forge: ForgeConfig = ForgeConfig()
    world_model: WorldModelConfig = WorldModelConfig()
    llm: LLMConfig = LLMConfig()


# settings that take one of several kinds of value, in plain words
EITHER = {
    "suite": "must be a suite name (a folder under benchmarks/) or a list of names",
    "parents.s_mid": 'must be a number or "median"',
}


def _is_kind(part: object) -> bool:
    """A union member's tag in an error location (`str`, `tuple[str, ...]`, `literal[...]`),
    not a field name."""
    text = str(part)
    return "[" in text or text in ("str", "int", "float", "bool", "none")


def _describe_all(errors: list[dict[str, Any]]) -> str:
    """One line per setting: a union's member errors are said once, in plain words."""
    out: list[str] = []
    said: set[str] = set()
    for error in errors:
        loc = error["loc"]
        cut = next((i for i, part in enumerate(loc) if _is_kind(part)), None)
        if cut is None:
            out.append(_describe(error))
            continue
        field = ".".join(str(p) for p in loc[:cut])
        if field not in said:  # the first member's error holds the whole value given
            said.add(field)
            plain = EITHER.get(field, "has a value of the wrong kind")
            out.append(f"`{field}` {plain} (got {error.get('input')!r})")
    return "; ".join(out)


def _describe(error: dict[str, Any]) -> str:
    field = ".".join(str(p) for p in error["loc"])
    ctx = error.get("ctx") or {}
    bounds = ", ".join(f"{k} {v}" for k, v in ctx.items() if k in ("ge", "gt", "le", "lt"))
    allowed = f" (allowed: {bounds})" if bounds else ""
    if error["type"] == "extra_forbidden":
        return f"`{field}` is not a known setting; remove it or check its spelling"
    if error["type"] == "literal_error":
        allowed = f" (allowed: {ctx.get('expected')})"
    return f"`{field}`: {error['msg']}{allowed}"


def parse_config(data: dict[str, Any], *, source: str) -> Config:
    """Validate raw settings; `source` names the file and table in error messages."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = _describe_all(exc.errors())  # type: ignore[arg-type]
        raise ConfigError(f"{source}: {problems}") from None


def load_config(root: Path) -> Config:
    """Read `augnes.toml` if present, else `[tool.augnes]` in `pyproject.toml`, else defaults."""
    own = root / "augnes.toml"
    if own.is_file():
        return parse_config(_read_toml(own), source=str(own))
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        table = _read_toml(pyproject).get("tool", {}).get("augnes")
        if table is not None:
            return parse_config(table, source=f"{pyproject} [tool.augnes]")
    return Config()


def has_config(root: Path) -> bool:
    pyproject = root / "pyproject.toml"
    if (root / "augnes.toml").is_file():
        return True
    return pyproject.is_file() and "augnes" in _read_toml(pyproject).get("tool", {})


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(read_text(path, error=ConfigError))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
