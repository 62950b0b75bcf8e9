"""The benchmark report is rendered from the JSON the benchmarks write: its statistics, its
verdicts follow the numbers, and a section whose JSON is missing is left out."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.conftest import load_benchmark

report = load_benchmark("report")
stats = load_benchmark("efficacy_report")


def test_the_bootstrap_interval_and_the_permutation_p() -> None:
    rng = random.Random(1)
    ahead = [0.2 + rng.gauss(0, 0.05) for _ in range(20)]
    low, high = stats.bootstrap_ci(ahead)
    assert low < sum(ahead) / 20 < high and low > 0
    assert stats.permutation_p(ahead) < 0.001
    even = [rng.gauss(0, 1) for _ in range(20)]
    assert stats.permutation_p(even) > 0.05
    assert stats.quartiles([1, 2, 3, 4, 5]) == (3, 2, 4)


def run(method: str, seed: int, heldout: dict[str, float], label: str | None = None) -> dict:
    return {
        "method": method,
        "label": label or method,
        "seed": seed,
        "checkpoints": {
            c: {"spent": float(c), "heldout": h, "in_sample": h + 0.003, "strategy": "p"}
            for c, h in heldout.items()
        },
        "variants": 10,
        "early_stopped": 2,
        "merged": 1,
        "wall_s": 1.0,
    }


def write(folder: Path, scores: dict[str, float], *, name: str = "efficacy") -> None:
    runs = [
        run(m, s, {"60": base - 0.02 + 0.001 * s, "240": base + 0.001 * s, "1000": base + 0.01})
        for m, base in scores.items()
        for s in range(1, 7)
    ]
    (folder / f"{name}_binpacking.json").write_text(
        json.dumps(
            {
                "suite": "binpacking",
                "budget": 1000,
                "seeds": 6,
                "checkpoints": [60, 240, 1000],
                "runs": runs,
                "start": {"in_sample": 0.58, "heldout": 0.57},
                "wall_s": 60,
            }
        )
    )


def test_efficacy_targets_follow_the_numbers(tmp_path: Path) -> None:
    data = tmp_path / "performance"
    data.mkdir()
    write(data, {"augnes": 0.93, "v06": 0.90, "random": 0.70, "cma": 0.92})
    report.render(data, tmp_path / "PERFORMANCE.md", quick=False)
    text = (tmp_path / "PERFORMANCE.md").read_text()
    assert "held-out excess ≤ 1.0 % at 240 evaluations: met** (median 0.665 %)" in text
    assert "held-out excess ≤ 0.7 % at 1000 evaluations: met" in text
    assert "(a) ahead of (f) plain CMA-ES at 1000 evaluations: met" in text
    verdicts = json.loads((data / "verdicts.json").read_text())["binpacking"]
    assert verdicts["240"]["random"]["ahead"] and verdicts["240"]["random"][
        "mean"
    ] == pytest.approx(2.3)
    # sections without JSON are left out, not rendered empty
    assert "## 2. Overhead" not in text and "## 3. Scale" not in text

    write(data, {"augnes": 0.90, "cma": 0.92})
    report.render(data, tmp_path / "PERFORMANCE.md", quick=True)
    text = (tmp_path / "PERFORMANCE.md").read_text()
    assert "(a) ahead of (f) plain CMA-ES at 240 evaluations: missed" in text
    assert "held-out excess ≤ 0.7 % at 1000 evaluations: missed" in text
    assert "Quick mode" in text


def test_the_sensitivity_table_compares_each_setting_with_the_defaults(tmp_path: Path) -> None:
    data = tmp_path / "performance"
    data.mkdir()
    runs = [run("augnes", s, {"60": 0.90, "240": 0.92}, "defaults") for s in range(1, 5)]
    runs += [  # better at 240 on three seeds of four
        run("augnes", s, {"60": 0.80, "240": 0.93 if s < 4 else 0.91}, "variation.sigma = 0.2")
        for s in range(1, 5)
    ]
    (data / "sensitivity_binpacking.json").write_text(
        json.dumps({"suite": "binpacking", "seeds": 4, "checkpoints": [60, 240], "runs": runs})
    )
    text, _ = stats.render(data)
    assert "| variation.sigma = 0.2 | 2.000 (-1.000, 0/4) | 0.700 (+0.050, 3/4) |" in text


def test_the_ablation_sets_the_parent_led_runs_beside_the_protocols(tmp_path: Path) -> None:
    data = tmp_path / "performance"
    data.mkdir()
    write(data, {"augnes": 0.93, "v06": 0.93})  # every operator: a tie
    runs = [run("augnes", s, {"60": 0.92, "1000": 0.94}, "augnes, parent-led operators")
            for s in range(1, 7)]  # fmt: skip
    runs += [run("v06", s, {"60": 0.90, "1000": 0.94}, "v06, parent-led operators")
             for s in range(1, 7)]  # fmt: skip
    (data / "ablation_binpacking.json").write_text(
        json.dumps({"suite": "binpacking", "seeds": 6, "checkpoints": [60, 1000], "runs": runs})
    )
    text, _ = stats.render(data)
    assert "### What the archive adds where the parent decides the child" in text
    assert "| every operator | 60 | 0.865 | 0.865 | +0.000 [+0.000, +0.000]" in text
    assert "| perturb, crossover, resample | 60 | 0.800 | 1.000 | +0.200 [+0.200, +0.200]" in text
    assert "6/6 |" in text and "| perturb, crossover, resample | 1000 | 0.600 | 0.600 |" in text
    # without the protocol's runs only the ablation's rows are shown
    (data / "efficacy_binpacking.json").unlink()
    text, _ = stats.render(data)
    assert "| every operator |" not in text
    assert "| perturb, crossover, resample | 60 |" in text


def test_control_says_how_far_a_could_lead_b_below_the_ceiling(tmp_path: Path) -> None:
    data = tmp_path / "performance"
    data.mkdir()
    runs = [run("augnes", s, {"240": 0.780 + 0.002 * s}) for s in range(1, 5)]
    runs += [run("v06", s, {"240": 0.785}) for s in range(1, 5)]
    (data / "efficacy_control.json").write_text(
        json.dumps(
            {"suite": "control", "budget": 240, "seeds": 4, "checkpoints": [240], "runs": runs,
             "start": {"in_sample": 0.52, "heldout": 0.50}}
        )
    )  # fmt: skip
    goals = {"cartpole": {"heldout": 1.0}, "pendulum": {"heldout": 0.59}}
    (data / "ceilings_control.json").write_text(
        json.dumps({"evaluations": 600, "families": {"p": {"goals": goals, "ceiling": 0.795}}})
    )
    text, _ = stats.render(data)
    assert "| p | 1.000 | 0.590 | 0.7950 |" in text
    assert "(b) leaves 0.0100 below the ceiling (median)" in text
    assert "over these 4 seeds is 0.0040 wide" in text
    # a shipped variant that did better on a goal than the ceiling search raises the ceiling
    runs[-1]["checkpoints"]["240"]["heldout_goals"] = {"cartpole": 0.98, "pendulum": 0.61}
    (data / "efficacy_control.json").write_text(
        json.dumps(
            {"suite": "control", "budget": 240, "seeds": 4, "checkpoints": [240], "runs": runs,
             "start": {"in_sample": 0.52, "heldout": 0.50}}
        )
    )  # fmt: skip
    text, _ = stats.render(data)
    assert "| p | 1.000 | 0.610* | 0.8050 |" in text
    assert "(b) leaves 0.0200 below the ceiling (median)" in text


def test_bin_packing_sets_the_converged_methods_beside_a_far_longer_search(tmp_path: Path) -> None:
    data = tmp_path / "performance"
    data.mkdir()
    write(data, {"augnes": 0.93, "v06": 0.90, "cma": 0.92})  # at 1000: 0.94, 0.91, 0.93
    path = [{"evaluations": 1000, "in_sample": 0.94, "shipped_heldout": 0.935},
            {"evaluations": 3000, "in_sample": 0.948, "shipped_heldout": 0.944}]  # fmt: skip
    search = {"in_sample": 0.95, "shipped_heldout": 0.945, "heldout": 0.96, "evaluations": 5003,
              "path": path}  # fmt: skip
    families = {
        "priority": {"goals": {"w": search}, "ceiling": 0.96},
        "bestfit": {"goals": {"w": {**search, "evaluations": 1, "path": []}}, "ceiling": 0.6},
    }
    (data / "ceilings_binpacking.json").write_text(
        json.dumps({"evaluations": 5000, "families": families, "weights": {"w": 1.0}})
    )
    text, _ = stats.render(data)
    assert "one CMA-ES over priority's parameters" in text and "(5003 evaluations;" in text
    assert "| 1000 | 0.600 | 0.650 |\n| 3000 | 0.520 | 0.560 |\n| 5003 | 0.500 | 0.550 |" in text
    # a last mark that holds the final result is not repeated
    path.append({"evaluations": 5000, "in_sample": 0.95, "shipped_heldout": 0.945})
    (data / "ceilings_binpacking.json").write_text(
        json.dumps({"evaluations": 5000, "families": families, "weights": {"w": 1.0}})
    )
    text, _ = stats.render(data)
    assert "| 5000 | 0.500 | 0.550 |\n\n" in text and "| 5003 |" not in text
    assert "The best held-out figure of any variant it tried is 0.400" in text
    assert "Beside what 5003 evaluations ship (0.550):" in text
    # write() gives every seed the same 1000-evaluation score: the paired intervals are points
    assert "| 1000 | (a) Augnes loop | 0.600 | +0.050 | – |" in text
    assert "| 1000 | (b) v0.6 loop | 0.900 | +0.350 | 0.000 |" in text
    assert "| 1000 | (f) plain CMA-ES | 0.700 | +0.150 | 0.000 |" in text
    assert "| 240 | (f) plain CMA-ES | 0.765 | +0.215 |" in text  # every checkpoint has rows
    assert "Ceilings: per family and goal" not in text  # control's multi-goal table
