"""Stats recomputed from the raw judgments in one pass, and `augnes stats --recompute`."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.aggregate import aggregate, counted_quantiles
from bot.cli import cli
from bot.stats import quantiles
from tests.conftest import commit_file, git


def invoke(repo: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["-C", str(repo), *args], catch_exceptions=False)
    return result.exit_code, result.output


def line(variant: str, goal: str, episode: int, norm: float, **extra: object) -> str:
    return json.dumps(
        {
            "variant": variant,
            "goal_id": goal,
            "generation": 0,
            "episode": episode,
            "reward_norm": norm,
            "regret": round(100 * (1 - norm), 6),
            "failure": None,
            **extra,
        }
    )


def test_quantiles_of_counted_values_equal_those_of_the_values() -> None:
    rng = random.Random(1)
    values = [round(rng.uniform(0, 50), 2) for _ in range(501)] + [7.0] * 40
    counts: dict[float, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    assert counted_quantiles(counts) == quantiles(values)
    assert counted_quantiles({}) == {}


def test_the_window_is_bounded_and_its_baseline_is_the_last_judgments() -> None:
    norms = [i / 1000 for i in range(1000)]
    agg = aggregate((line("v", "g", i, n) for i, n in enumerate(norms)), window=100, source="x")
    state = agg._goals["g"]
    assert len(state.window) == 100  # memory does not grow with the judgments
    assert agg.baselines()["g"] == pytest.approx(sum(norms[-100:]) / 100)
    assert agg.judgments == 1000 and agg.tallies["v"]["g"].uses == 1000


def test_corrupt_lines_are_reported_by_number_and_skipped() -> None:
    lines = [
        line("v", "g", 0, 0.5),
        "{not json",
        line("v", "g", 1, 1.5),
        line("v", "g", 2, 0.5, failure=3),
        json.dumps({"variant": "v"}),
        "",
        line("v", "g", 3, 0.25) + " trailing",
    ]
    agg = aggregate(lines, window=10, source="lineage/judgments.jsonl")
    assert agg.judgments == 1 and agg.corrupt == 5
    text = "\n".join(agg.problems)
    assert "lineage/judgments.jsonl:2:" in text
    assert "lineage/judgments.jsonl:3: reward_norm: must lie in [0.0, 1.0]" in text
    assert "lineage/judgments.jsonl:4: failure: must be a string or null" in text
    assert "lineage/judgments.jsonl:5: missing field 'goal_id'" in text
    assert "lineage/judgments.jsonl:7: extra data" in text


def test_a_judgment_written_twice_is_counted_as_a_duplicate() -> None:
    agg = aggregate(
        [line("v", "g", 0, 0.5), line("v", "g", 1, 0.5), line("v", "g", 1, 0.5)],
        window=10,
        source="x",
    )
    assert agg.duplicates == 1


def test_recompute_matches_the_committed_stats_and_finds_an_edit(seeded_repo: Path) -> None:
    code, output = invoke(seeded_repo, "run", "--generations", "2", "--mutations", "2")
    assert code == 0, output
    code, output = invoke(seeded_repo, "stats", "--recompute")
    assert code == 0, output
    assert "strategy_stats.json and regret.json on main match" in output
    code, output = invoke(seeded_repo, "stats", "--recompute", "--json")
    report = json.loads(output)
    assert report["differences"] == [] and report["judgments"] == len(
        git(seeded_repo, "show", "main:lineage/judgments.jsonl").splitlines()
    )

    # someone edits a committed aggregate by hand: the raw judgments say otherwise
    stats = json.loads(git(seeded_repo, "show", "main:lineage/strategy_stats.json"))
    cid = sorted(stats["variants"])[0]
    stats["variants"][cid]["mean_reward"] += 0.25
    commit_file(seeded_repo, "lineage/strategy_stats.json", json.dumps(stats), "edit stats")
    code, output = invoke(seeded_repo, "stats", "--recompute")
    assert code == 1
    assert f"{cid}: mean_reward is" in output and "differ (1 difference(s))" in output
