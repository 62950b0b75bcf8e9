"""The evaluation artifact: the only thing that leaves an untrusted evaluation job.

On GitHub, a candidate's episodes are run by a job that executes the candidate's code (in a
container with no network), so what it uploads is treated as hostile input by the trusted
job that selects. It is JSON and nothing else — never imported, unpickled or executed — read
with a size limit, parsed into a strict model (known keys only, finite numbers, bounded
lists), and checked against what the trusted side already knows: the candidate and commit it
dispatched, the suite's goals, each goal's fixed seeds in order, its step limit and its
reward range. Rewards are then normalised, and regret computed, by the trusted side alone.

An artifact also carries the candidate's episodes on the suite's held-out seeds, apart:
the select job reads them only for the variants that become elites, after the decision, to
show what they score on episodes no selection reads (the job itself runs no strategy code).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.errors import AugnesError
from bot.evaluator import MEASURES, Episode
from bot.goals import Goal, Suite
from bot.sandbox import FAILURE_KINDS

FORMAT: Literal["augnes-evaluation/1"] = "augnes-evaluation/1"
MAX_BYTES = 4 << 20
SHA = r"^[0-9a-f]{40}$"


class ArtifactError(AugnesError):
    exit_code = 10
    default_message = "an evaluation artifact was refused"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class ArtifactEpisode(_Strict):
    goal: str = Field(min_length=1, max_length=100)
    episode: int = Field(ge=0, le=100_000)
    seed: int = Field(ge=0, le=2**63 - 1)
    reward: float
    steps: int = Field(ge=0)
    failure: Literal[FAILURE_KINDS] | None  # type: ignore[valid-type]
    duration_s: float = Field(ge=0, le=86_400)
    measures: dict[Literal[MEASURES], Annotated[float, Field(ge=0, le=1)]] = {}  # type: ignore[valid-type]


class EvaluationArtifact(_Strict):
    format: Literal["augnes-evaluation/1"]
    candidate: str = Field(pattern=r"^c-[0-9a-f]{7}$")
    commit: str = Field(pattern=SHA)
    harness: str = Field(pattern=SHA)
    suite: str = Field(min_length=1, max_length=100)
    early_stopped: bool
    seconds: float = Field(ge=0, le=86_400)
    episodes: list[ArtifactEpisode] = Field(max_length=100_000)
    heldout: list[ArtifactEpisode] = Field(default=[], max_length=100_000)


def write_artifact(
    path: Path,
    *,
    candidate: str,
    commit: str,
    harness: str,
    suite: str,
    episodes: Sequence[Episode],
    early_stopped: bool,
    seconds: float,
    heldout: Sequence[Episode] = (),
) -> None:
    artifact = EvaluationArtifact(
        format=FORMAT,
        candidate=candidate,
        commit=commit,
        harness=harness,
        suite=suite,
        early_stopped=early_stopped,
        seconds=round(seconds, 3),
        episodes=[_artifact_episode(e) for e in episodes],
        heldout=[_artifact_episode(e) for e in heldout],
    )
    path.write_text(artifact.model_dump_json(), encoding="utf-8")


def _artifact_episode(e: Episode) -> ArtifactEpisode:
    return ArtifactEpisode(
        goal=e.goal_id,
        episode=e.episode,
        seed=e.seed,
        reward=float(e.reward),
        steps=e.steps,
        failure=e.failure,
        duration_s=round(e.duration_s, 6),
        measures=dict(e.measures),
    )


def read_artifact(
    path: Path, *, suite: Suite, candidate: str, commit: str, harness: str
) -> list[Episode]:
    """The episodes in an untrusted artifact, or ArtifactError saying exactly what is wrong."""
    return read_evaluation(path, suite=suite, candidate=candidate, commit=commit, harness=harness)[
        0
    ]


def read_evaluation(
    path: Path, *, suite: Suite, candidate: str, commit: str, harness: str
) -> tuple[list[Episode], list[Episode]]:
    """The episodes in an untrusted artifact and, apart, its held-out ones (none when its
    job ran without them), each checked against its own seeds; ArtifactError otherwise."""
    artifact = _load(path, suite=suite, candidate=candidate, commit=commit, harness=harness)
    return (
        _checked(artifact.episodes, suite, suite.seeds, f"{path.name}: episodes"),
        _checked(artifact.heldout, suite, suite.heldout_seeds, f"{path.name}: heldout"),
    )


def _load(
    path: Path, *, suite: Suite, candidate: str, commit: str, harness: str
) -> EvaluationArtifact:
    where = f"{path.name}"
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ArtifactError(f"{where}: {size} bytes, more than the {MAX_BYTES} allowed")
    try:
        raw = json.loads(path.read_bytes(), parse_constant=_no_constant)
        artifact = EvaluationArtifact.model_validate(raw)
    except (ValueError, RecursionError) as exc:
        detail = (
            "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
            if isinstance(exc, ValidationError)
            else str(exc)[:300]
        )
        raise ArtifactError(f"{where}: not a valid evaluation artifact ({detail})") from None
    expected = {"candidate": candidate, "commit": commit, "harness": harness, "suite": suite.name}
    for key, value in expected.items():
        if getattr(artifact, key) != value:
            raise ArtifactError(
                f"{where}: {key} is {getattr(artifact, key)!r}, but {value!r} was dispatched"
            )
    return artifact


def _checked(
    items: list[ArtifactEpisode],
    suite: Suite,
    seeds_of: Callable[[Goal], tuple[int, ...]],
    where: str,
) -> list[Episode]:
    goals = {g.goal_id: g for g in suite.goals}
    seen: set[tuple[str, int]] = set()
    episodes = []
    for n, e in enumerate(items):
        at = f"{where}[{n}]"
        goal = goals.get(e.goal)
        if goal is None:
            raise ArtifactError(f"{at}: goal {e.goal!r} is not in the suite {suite.name}")
        seeds = seeds_of(goal)
        if e.episode >= len(seeds) or seeds[e.episode] != e.seed:
            raise ArtifactError(f"{at}: seed {e.seed} is not {goal.goal_id}'s episode {e.episode}")
        if (e.goal, e.episode) in seen:
            raise ArtifactError(f"{at}: {goal.goal_id} episode {e.episode} appears twice")
        seen.add((e.goal, e.episode))
        if e.steps > goal.max_steps:
            raise ArtifactError(f"{at}: {e.steps} steps, over {goal.goal_id}'s {goal.max_steps}")
        low, high = _reward_bounds(goal.min_reward, goal.optimal_reward)
        if not low <= e.reward <= high:
            raise ArtifactError(
                f"{at}: reward {e.reward} outside what {goal.goal_id} can give ({low}..{high})"
            )
        episodes.append(
            Episode(
                e.goal, e.episode, e.seed, e.reward, e.steps, e.failure, e.duration_s, e.measures
            )
        )
    return episodes


def _reward_bounds(min_reward: float, optimal: float) -> tuple[float, float]:
    """A generous band around [min_reward, optimal]: an honest return never leaves it."""
    span = optimal - min_reward
    return min_reward - span, optimal + span


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")
