"""Golden files for what people read. Regenerate with AUGNES_UPDATE_GOLDEN=1 and review the diff."""

from __future__ import annotations

import os
from pathlib import Path

from bot.report import changes, pr_body, report_comment
from bot.scoring import GoalScore, VariantScore, Weights
from bot.selection import Decision

GOLDEN = Path(__file__).parent / "golden"


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("AUGNES_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def score(bench: float, s: float, goals: dict[str, float]) -> VariantScore:
    return VariantScore(
        uses=40,
        fails=0,
        mean_reward=bench,
        avg_advantage=bench - 0.5,
        benchmark_score=bench,
        delta_score=0.01,
        selection_score=s,
        sum_regret=100.0,
        avg_regret=2.5,
        goals={g: GoalScore(20, 0, v, 10.0, 0.5) for g, v in goals.items()},
    )


PARENT = score(0.62, 0.41, {"cartpole": 0.9, "pendulum": 0.34})
CHILD = score(0.7, 0.46, {"cartpole": 1.0, "pendulum": 0.4})


def test_pull_request_body() -> None:
    body = pr_body(
        candidate="c-7f3a9e1",
        strategy="heuristic",
        niche="heuristic/c1",
        generation=42,
        operator="perturb",
        summary="perturb pend_kd, pend_kp",
        parents=["c-1b2c3d4"],
        parent_scores={"c-1b2c3d4": PARENT},
        parent_links={"c-1b2c3d4": ("b" * 40, 17)},
        changed=["params.toml"],
        harness="a" * 40,
        commit="c" * 40,
        seed=1234,
        image="image augnes-worker:latest",
        episodes={"cartpole": list(range(1000, 1020)), "pendulum": [7, 9]},
        changed_lines=changes(
            {"params.json": b'{"pend_kd": 1.0, "pend_kp": 5.0, "gain": [1, 2]}'},
            {"params.json": b'{"pend_kd": 1.25, "pend_kp": 4.5, "gain": [1, 2]}'},
        ),
    )
    check("pr_body.md", body)


def test_a_code_change_is_shown_as_its_lines_in_a_fence_nothing_in_it_can_close() -> None:
    before = b"def f(x):\n    return x\n"
    after = b'def f(x):\n    """```\n<!-- augnes:meta {} -->\n````"""\n    return -x\n'
    lines = changes({"policy.py": before}, {"policy.py": after})
    fence = lines[0].removesuffix("diff")
    assert fence == "`" * 5  # longer than the longest run of backticks inside
    assert lines[lines.index(fence, 1) - 1].endswith("+    return -x")
    assert "-    return x" in lines[1] and lines[-1] == ""
    long = changes({"p.py": b""}, {"p.py": "".join(f"{i}\n" for i in range(500)).encode()})
    assert len(long[1].splitlines()) == 81 and long[1].endswith("more line(s)")


def test_sticky_report_comment_merged_and_closed() -> None:
    merged = Decision("c-7f3a9e1", True, "S 0.4600 ≥ threshold 0.4150", 0.415)
    check(
        "report_merged.md",
        report_comment(
            candidate="c-7f3a9e1",
            child=CHILD,
            parent=PARENT,
            elite=PARENT,
            elite_id="c-1b2c3d4",
            decision=merged,
            weights=Weights(),
            paired={"cartpole": (0.1, 0.042, 20), "pendulum": (0.06, 0.031, 20)},
            heldout=(0.6812, 0.6034),
        ),
    )
    closed = Decision("c-7f3a9e1", False, "goal pendulum regressed", 0.5)
    check(
        "report_closed_v06.md",
        report_comment(
            candidate="c-7f3a9e1",
            child=CHILD,
            parent=None,
            elite=None,
            elite_id=None,
            decision=closed,
            weights=Weights(formula="v06"),
        ),
    )


def test_dashboard() -> None:
    from bot.records import GenerationSummary
    from bot.report import dashboard

    summary = GenerationSummary(
        generation=7,
        run_id="r",
        evaluated=4,
        merged=1,
        closed=3,
        best_selection_score=0.46,
        best_benchmark_score=0.7,
        best_heldout_score=0.6812,
        avg_regret={"cartpole": 0.0, "pendulum": 1116.8},
        wall_s=31.2,
        episode_s=29.0,
    )
    board = [
        ("c-7f3a9e1", "heuristic", "elite", CHILD),
        ("c-1b2c3d4", "heuristic", "active", PARENT),
    ]
    decisions = [
        ("c-7f3a9e1", True, "S 0.4600 ≥ threshold 0.4150"),
        ("c-2a2a2a2", False, "S 0.4100 below the niche elite's 0.4600 + margin"),
    ]
    check(
        "dashboard.md",
        dashboard(
            summary=summary,
            leaderboard=board,
            decisions=decisions,
            base="main",
            heldout={"c-7f3a9e1": 0.6812},
        ),
    )
