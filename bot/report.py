"""What people read: pull request bodies and the sticky benchmark report comment."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence

from bot.manifest import MANIFEST, PARAMS
from bot.records import GenerationSummary
from bot.scoring import VariantScore, Weights
from bot.selection import Decision

REPORT_MARKER = "<!-- augnes:report -->"
MAX_DIFF_LINES = 80  # a code change's lines shown in its pull request


CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


def untrusted_text(text: str) -> str:
    """Text a strategy wrote (a traceback, a message), safe on a terminal and in Markdown:
    no control characters or terminal escapes, no HTML comment (so nothing can pass for the
    bot's `augnes:meta` footer or report marker), and no `@` that could mention anyone."""
    text = CONTROL.sub("", text)
    return text.replace("<!--", "<\u200b!--").replace("-->", "--\u200b>").replace("@", "@\u200b")


def untrusted_block(text: str) -> list[str]:
    """`untrusted_text` in a fenced code block no text inside can close: links, images and
    HTML inside it stay plain text."""
    safe = untrusted_text(text)
    fence = _fence(safe)
    return [f"{fence}text", safe, fence]


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in `text`, so nothing inside closes it."""
    return "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", text)), default=0))


def changes(parent: Mapping[str, bytes], child: Mapping[str, bytes]) -> list[str]:
    """What the child changes of its parent's folder, for a reviewer's first glance: each
    parameter from → to, then the changed lines of any other file (bounded, fenced so
    that no text in it can end the block)."""
    lines: list[str] = []
    try:
        before = json.loads(parent.get(PARAMS, b"{}"))
        after = json.loads(child.get(PARAMS, b"{}"))
    except ValueError:
        before, after = {}, {}
    if isinstance(before, dict) and isinstance(after, dict):
        rows = [
            f"| `{key}` | {_value(before.get(key))} | {_value(after.get(key))} |"
            for key in sorted(set(before) | set(after))
            if before.get(key) != after.get(key)
        ]
        if rows:
            lines += ["| parameter | from | to |", "| --- | --- | --- |", *rows, ""]
    for name in sorted(set(parent) | set(child)):
        if name in (PARAMS, MANIFEST) or parent.get(name) == child.get(name):
            continue
        old = parent.get(name, b"").decode("utf-8", "replace").splitlines()
        new = child.get(name, b"").decode("utf-8", "replace").splitlines()
        diff = list(difflib.unified_diff(old, new, f"a/{name}", f"b/{name}", lineterm="", n=1))
        if len(diff) > MAX_DIFF_LINES:
            diff = [*diff[:MAX_DIFF_LINES], f"… {len(diff) - MAX_DIFF_LINES} more line(s)"]
        text = "\n".join(diff)
        fence = _fence(text)
        lines += [f"{fence}diff", text, fence, ""]
    return lines


def _value(value: object) -> str:
    """A parameter's value in a table cell: JSON, shortened, with no `|` to break the row."""
    text = "–" if value is None else json.dumps(value)
    if len(text) > 60:
        text = text[:57] + "…"
    return f"`{text}`".replace("|", "\\|")


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
    parent_links: Mapping[str, tuple[str, int | None]],
    changed: Sequence[str],
    harness: str,
    commit: str,
    seed: int,
    image: str,
    episodes: Mapping[str, Sequence[int]],
    changed_lines: Sequence[str] = (),
) -> str:
    """The body of a candidate's pull request. `parent_links` gives each parent's commit and
    pull request (GitHub links full SHAs and #numbers); `episodes` the seeds per goal;
    `changed_lines` what `changes` says the child changes."""
    lines = [
        f"**{operator}** on `strategies/{strategy}`: {summary}.",
        "",
        "Augnes proposes this variant and benchmarks it against its niche elite on the same "
        "episode seeds; it merges only if the weighted selection score beats the elite by the "
        "configured margin without regressing any goal. Add `augnes:stop` to take it over, "
        "`augnes:pin` to keep it open, `augnes:rerun` to have it benchmarked again; a commit "
        "you push here is benchmarked as operator `human`.",
        "",
    ]
    if changed_lines:
        lines += ["### Changes", "", *changed_lines]
    lines += [
        "### Lineage",
        "",
        "| parent | commit | pull request | benchmark_score | S |",
        "| --- | --- | --- | --- | --- |",
    ]
    for p in parents:
        s = parent_scores.get(p)
        sha, pr = parent_links.get(p, ("", None))
        numbers = f"{s.benchmark_score:.4f} | {s.selection_score:.4f}" if s else "– | –"
        lines.append(f"| `{p}` | {sha or '–'} | {f'#{pr}' if pr else '–'} | {numbers} |")
    files = ", ".join(f"`{f}`" for f in changed) or "nothing"
    lines += [
        "",
        f"generation {generation} · operator `{operator}` · operator seed {seed} · niche "
        f"`{niche}` · changes {files}",
        "",
        "### Reproduce",
        "",
        f"harness {harness} · {image} · episode seeds "
        + ", ".join(f"{g} {_span(seeds)}" for g, seeds in sorted(episodes.items())),
        "",
        "```sh",
        f"git checkout {harness} && augnes evaluate-candidate {candidate} --commit {commit} "
        "--out evaluation.json",
        "```",
        "",
        "<!-- augnes:meta "
        + json.dumps(
            {
                "candidate": candidate,
                "parents": list(parents),
                "generation": generation,
                "operator": operator,
                "commit": commit,
                "harness": harness,
            },
            sort_keys=True,
        )
        + " -->",
    ]
    return "\n".join(lines) + "\n"


def _span(seeds: Sequence[int]) -> str:
    """`1000–1019` for consecutive seeds, else the list."""
    if not seeds:
        return "none"
    if list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])
    return ",".join(map(str, seeds))


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
    note: str = "",
    heldout: tuple[float, float | None] | None = None,
    failure: str = "",
) -> str:
    """The sticky report. `paired` gives, per goal, the paired difference to the parent on
    the same seeds with its 95 % half-width and the number of pairs; `note` says why this
    pull request was benchmarked again (a person's commit, augnes:rerun); `failure` what the
    strategy's worker said when an episode failed (shown as untrusted text)."""
    lines = [REPORT_MARKER, f"### Benchmark report for `{candidate}`", ""]
    if note:
        lines += [note, ""]
    if failure:
        lines += ["**Why episodes failed**, as the strategy's worker said it:", ""]
        lines += [*untrusted_block(failure), ""]
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
    if heldout is not None:
        outside, elite_outside = heldout
        lines += [
            "",
            f"Held-out: benchmark_score **{outside:.4f}** on the suite's held-out seeds, which "
            f"no selection reads (in-sample {child.benchmark_score:.4f}"
            + (f"; the elite's held-out {elite_outside:.4f}" if elite_outside is not None else "")
            + ").",
        ]
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
    heldout: Mapping[str, float] | None = None,
    failures: Mapping[str, str] | None = None,
) -> str:
    """The dashboard issue's body, rewritten after every generation: where the run is, the
    leaderboard, what this generation selected and rejected (with the reason), and regret
    per goal. `leaderboard` rows are (variant, strategy, status, score), best first;
    `decisions` are (candidate, merged, reason)."""
    lines = [
        f"## Generation {summary.generation}",
        "",
        f"evaluated {summary.evaluated} · merged {summary.merged} · closed {summary.closed} · "
        f"best benchmark_score **{summary.best_benchmark_score:.4f}**"
        + (
            f" (held-out {summary.best_heldout_score:.4f})"
            if summary.best_heldout_score is not None
            else ""
        )
        + f" · best S {summary.best_selection_score:.4f} · {summary.wall_s:.0f} s",
        "",
        "### Leaderboard",
        "",
        "| variant | strategy | status | S | benchmark_score | held-out | avg_regret |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| `{cid}` | {strategy} | {status} | {s.selection_score:.4f} | "
        f"{s.benchmark_score:.4f} | {'–' if (h := (heldout or {}).get(cid)) is None else f'{h:.4f}'} | "
        f"{s.avg_regret:.4f} |"
        for cid, strategy, status, s in leaderboard
    ]
    if decisions:
        lines += ["", "### This generation", "", "| candidate | decision |", "| --- | --- |"]
        lines += [
            f"| `{cid}` | {'selected' if merged else 'rejected'}: {reason} |"
            for cid, merged, reason in decisions
        ]
    for cid, reason in sorted((failures or {}).items()):
        lines += ["", f"### Why `{cid}` failed", "", *untrusted_block(reason)]
    lines += ["", "### Regret per goal", "", "| goal | avg_regret |", "| --- | --- |"]
    lines += [f"| {goal} | {v:.4f} |" for goal, v in sorted(summary.avg_regret.items())]
    lines += ["", f"lineage/ on `{base}` holds every judgment; `augnes stats` reads it."]
    return "\n".join(lines) + "\n"
