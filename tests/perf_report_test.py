"""The benchmark report is rendered from the JSON the benchmarks write: its verdicts follow
the numbers, and a section whose JSON is missing is left out."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import load_benchmark

report = load_benchmark("report")


def run(method: str, seed: int, gain: float, *, start: float = 0.5) -> dict[str, object]:
    """A run of four seed evaluations (10 episodes each) then six children."""
    curve = [start] * 4 + [start + gain * i / 6 for i in range(1, 7)]
    return {
        "method": method,
        "seed": seed,
        "start": start,
        "full_evaluation_episodes": 10,
        "curve": curve,
        "spent": [10 * (i + 1) for i in range(10)],
        "episodes": 100,
        "early_stopped": 0,
        "strategies": {"a": 6, "b": 4},
        "best_strategy": "a",
        "wall_s": 1.0,
    }


def write_efficacy(folder: Path, gains: dict[str, float]) -> None:
    runs = [run(m, s, g + 0.01 * s) for m, g in gains.items() for s in (1, 2, 3)]
    (folder / "efficacy_control.json").write_text(
        json.dumps({"suite": "control", "budget": 10, "episodes": None, "runs": runs})
    )


def test_efficacy_targets_follow_the_numbers(tmp_path: Path) -> None:
    data = tmp_path / "performance"
    data.mkdir()
    write_efficacy(data, {"augnes": 0.30, "v06": 0.05, "random": 0.10, "deap": 0.2, "ribs": 0.1})
    report.render(data, tmp_path / "PERFORMANCE.md", quick=False)
    text = (tmp_path / "PERFORMANCE.md").read_text()
    assert "**Target (a) ≥ (b) + 20 pp: met** — (a) gained 32.00 pp, (b) 7.00 pp" in text
    assert "**Target (a) ≥ best of (c)–(e): met** — the best of them, (d) DEAP" in text
    assert (data / "efficacy.svg").read_text().startswith("<svg")
    assert json.loads((data / "verdicts.json").read_text())["control"]["vs_v06_met"] is True
    # sections without JSON are left out, not rendered empty
    assert "## 2. Overhead" not in text and "## 3. Scale" not in text

    write_efficacy(data, {"augnes": 0.10, "v06": 0.05, "random": 0.15})
    report.render(data, tmp_path / "PERFORMANCE.md", quick=True)
    text = (tmp_path / "PERFORMANCE.md").read_text()
    assert "Target (a) ≥ (b) + 20 pp: missed" in text
    assert "Target (a) ≥ best of (c)–(e): missed** — the best of them, (c) random search" in text
    assert "Quick mode" in text


def test_best_at_reads_the_curve_at_a_budget() -> None:
    r = run("augnes", 1, 0.6)
    assert report.best_at(r, 5) is None  # nothing fully evaluated yet
    assert report.best_at(r, 40) == 0.5
    assert report.best_at(r, 100) == r["curve"][-1]
