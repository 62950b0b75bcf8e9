"""Reflection: scan a generation's judgments, penalise and flag weak or failing variants,
defer repeat offenders with a cool-down, and remember content that failed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.records import Judgment
from bot.sandbox import FAILURE_KINDS


@dataclass(frozen=True)
class Reflection:
    candidate_id: str
    penalty: float
    mutate_next: bool
    defer: bool
    failed_content: bool
    reason: str


def reflect(
    recent: Mapping[str, Sequence[Judgment]],
    *,
    low_reward: float,
    penalty: float,
    failure_limit: int,
) -> list[Reflection]:
    """One verdict per variant that needs attention; variants doing fine are left out."""
    out = []
    for cid, judgments in sorted(recent.items()):
        if not judgments:
            continue
        # every kind counts, the sandbox's kills too: a variant that ran out of memory or
        # wrote past its disk limit did so itself, and repeating it wastes a worker as a
        # crash does
        failures = [j.failure for j in judgments if j.failure in FAILURE_KINDS]
        mean = sum(j.reward_norm for j in judgments) / len(judgments)
        if failures:
            kinds = ", ".join(sorted(set(f for f in failures if f)))
            defer = len(failures) >= failure_limit
            out.append(
                Reflection(
                    cid,
                    penalty,
                    True,
                    defer,
                    len(failures) == len(judgments),
                    f"{len(failures)} failure(s) ({kinds}) in {len(judgments)} episodes",
                )
            )
        elif mean < low_reward:
            out.append(
                Reflection(
                    cid, penalty, True, False, False, f"low reward: mean reward_norm {mean:.3f}"
                )
            )
    return out


def active_deferrals(deferrals: Sequence[tuple[str, int]], *, generation: int) -> set[str]:
    """Variants whose cool-down has not ended by `generation` ((variant, until) pairs)."""
    return {variant for variant, until in deferrals if until > generation}
