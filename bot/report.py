"""What people read: pull request bodies and the sticky benchmark report comment."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from bot.records import GenerationSummary
from bot.scoring import VariantScore, Weights
from bot.selection import Decision

REPORT_MARKER = "<!-- augnes:report -->"


def pr_body(
    *,
    candidate: str,
    strategy: str,
    niche: str,
    generation: int,
    operator: str,
    summary: str,
    parents: Sequence[str],
    parent_scores: Mapping[str, VariantScore],
    diffstat: str,
    harness: str,
    seed: int,
) -> str:
    lines = [
        f"**{operator}** on `strategies/{strategy}`: {summary}.",
        "",
        "Augnes proposes this variant and benchmarks it against its niche elite on the same "
        "episode seeds; it merges only if the weighted selection score beats the elite by the "
        "configured margin without regressing any goal.",
        "",
        "### Lineage",
        "",
        "| parent | benchmark_score | S |",
        "| --- | --- | --- |",
    ]
    for p in parents:
        s = parent_scores.get(p)
        lines.append(
            f"| `{p}` | {s.benchmark_score:.4f} | {s.selection_score:.4f} |"
            if s
            else f"| `{p}` | – | – |"
        )
    lines += [
        "",
        f"generation {generation} · operator `{operator}` · niche `{niche}` · {diffstat}",
        "",
        "### Reproduce",
        "",
        f"harness `{harness[:12]}` · seed {seed} · `augnes evaluate {candidate}`",
        "",
        "<!-- augnes:meta "
        + json.dumps(
            {
                "candidate": candidate,
                "parents": list(parents),
                "generation": generation,
                "operator": operator,
            },
            sort_keys=True,
        )
        + " -->",
    ]
    return "\n".join(lines) + "\n"


def report_comment(
    *,
    candidate: str,
    child: VariantScore,
    parent: VariantScore | None,
    elite: VariantScore | None,
    elite_id: str | None,
    decision: Decision,
    weights: Weights,
    paired: Mapping[str, tuple[float, float, int]] | None = None,
) -> str:
    """The sticky report. `paired` gives, per goal, the paired difference to the parent on
    the same seeds with its 95 % half-width and the number of pairs."""
    lines = [REPORT_MARKER, f"### Benchmark report for `{candidate}`", ""]
    lines += [
        "| goal | parent | child | Δ (95 % interval, paired) | episodes |",
        "| --- | --- | --- | --- | --- |",
    ]
    for goal, mine in sorted(child.goals.items()):
        theirs = parent.goals.get(goal) if parent else None
        before = f"{theirs.mean_reward_norm:.3f}" if theirs else "–"
        pair = (paired or {}).get(goal)
        if pair is not None:
            delta = f"{pair[0]:+.3f} ± {pair[1]:.3f} ({pair[2]} pairs)"
        elif theirs:
            delta = f"{mine.mean_reward_norm - theirs.mean_reward_norm:+.3f}"
        else:
            delta = "–"
        lines.append(f"| {goal} | {before} | {mine.mean_reward_norm:.3f} | {delta} | {mine.uses} |")
    formula = (
        "mean_reward + 0.5·avg_advantage"
        if weights.formula == "v06"
        else f"{weights.mean}·mean_reward + {weights.advantage}·avg_advantage + {weights.delta}·delta_score"
    )
    lines += [
        "",
        "### Selection",
        "",
        f"S = {formula}",
        "",
        "| | mean_reward | avg_advantage | delta_score | S | benchmark_score |",
        "| --- | --- | --- | --- | --- | --- |",
        _row("child", child),
    ]
    if elite is not None:
        lines.append(_row(f"elite `{elite_id}`", elite))
    state = "selected — merged" if decision.merge else "rejected — closed"
    lines += ["", f"threshold {decision.threshold:.4f} · **{state}**: {decision.reason}"]
    return "\n".join(lines) + "\n"


def _row(label: str, s: VariantScore) -> str:
    return (
        f"| {label} | {s.mean_reward:.4f} | {s.avg_advantage:+.4f} | {s.delta_score:+.4f} | "
        f"{s.selection_score:.4f} | {s.benchmark_score:.4f} |"
    )


DASHBOARD_TITLE = "Augnes: evolution dashboard"
DASHBOARD_LABEL = "augnes:dashboard"


def dashboard(
    *,
    summary: GenerationSummary,
    leaderboard: Sequence[tuple[str, str, str, VariantScore]],
    decisions: Sequence[tuple[str, bool, str]],
    base: str,
) -> str:
    """The dashboard issue's body, rewritten after every generation: where the run is, the
    leaderboard, what this generation selected and rejected (with the reason), and regret
    per goal. `leaderboard` rows are (variant, strategy, status, score), best first;
    `decisions` are (candidate, merged, reason)."""
    lines = [
        f"## Generation {summary.generation}",
        "",
        f"evaluated {summary.evaluated} · merged {summary.merged} · closed {summary.closed} · "
        f"best benchmark_score **{summary.best_benchmark_score:.4f}** · best S "
        f"{summary.best_selection_score:.4f} · {summary.wall_s:.0f} s",
        "",
        "### Leaderboard",
        "",
        "| variant | strategy | status | S | benchmark_score | avg_regret |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| `{cid}` | {strategy} | {status} | {s.selection_score:.4f} | "
        f"{s.benchmark_score:.4f} | {s.avg_regret:.4f} |"
        for cid, strategy, status, s in leaderboard
    ]
    if decisions:
        lines += ["", "### This generation", "", "| candidate | decision |", "| --- | --- |"]
        lines += [
            f"| `{cid}` | {'selected' if merged else 'rejected'}: {reason} |"
            for cid, merged, reason in decisions
        ]
    lines += ["", "### Regret per goal", "", "| goal | avg_regret |", "| --- | --- |"]
    lines += [f"| {goal} | {v:.4f} |" for goal, v in sorted(summary.avg_regret.items())]
    lines += ["", f"lineage/ on `{base}` holds every judgment; `augnes stats` reads it."]
    return "\n".join(lines) + "\n"
