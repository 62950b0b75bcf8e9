"""The efficacy benchmark's protocol: its search space, its budget (never overdrawn), what
each method ships at a checkpoint, and every method's run on both suites (the numbers
themselves belong to the report, not to tests)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.manifest import dump_params, parse_params
from tests.conftest import load_benchmark

efficacy = load_benchmark("efficacy")


@pytest.mark.parametrize("suite", ["control", "binpacking"])
def test_every_genome_decodes_to_declared_values_and_seeds_round_trip(suite: str) -> None:
    space = efficacy.Space(efficacy.seeds_of(efficacy.suite_of(suite)))
    assert space.names and "mpc" not in space.names  # no world model is trained here
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        name, params = space.decode(rng.random(space.dim))
        seen.add(name)
        parse_params(dump_params(params), space.seeds[name].manifest, source="genome")
    assert seen == set(space.names)
    for name in space.names:
        again, params = space.decode(space.encode(name))
        assert again == name
        for key, value in space.seeds[name].params.items():
            assert params[key] == pytest.approx(value, abs=1e-9)


def test_the_tuning_instances_are_not_the_held_out_ones() -> None:
    real, tuning = efficacy.suite_of("binpacking"), efficacy.suite_of("binpacking", tuning=True)
    for a, b in zip(real.goals, tuning.goals, strict=True):
        assert real.seeds(a) == tuning.seeds(b)  # the same selection episodes
        assert not set(real.heldout_seeds(a)) & set(tuning.heldout_seeds(b))
        assert not set(real.seeds(a)) & set(real.heldout_seeds(a))


@pytest.mark.parametrize("suite", ["binpacking", "control"])
@pytest.mark.parametrize("method", efficacy.METHODS)
def test_every_method_reads_its_checkpoints_within_its_budget(suite: str, method: str) -> None:
    budget = 12 if suite == "binpacking" else 6
    run = efficacy.run_one(method, suite, 1, budget=budget, checkpoints=(5, budget))
    assert run["spent"] <= budget + 1e-9
    readings = run["checkpoints"]
    assert set(readings) == {"5", str(budget)}
    for c, r in readings.items():
        assert r["spent"] <= int(c) and 0 <= r["heldout"] <= 1 and 0 <= r["in_sample"] <= 1
    spent = [s for s, _ in run["curve"]]
    best = [b for _, b in run["curve"]]
    assert spent == sorted(spent) and spent[-1] <= budget
    if method in ("random", "deap", "ribs", "cma"):  # the best so far never falls
        assert best == sorted(best)
        assert run["variants"] > 3  # beyond the seeds
    # the seeds' best is where every method starts
    assert readings["5"]["in_sample"] >= best[0] - 1e-9


def test_the_loop_spends_less_per_child_with_early_stop() -> None:
    early = efficacy.run_one("augnes", "binpacking", 2, budget=15, checkpoints=(15,))
    full = efficacy.run_one("augnes-no-early-stop", "binpacking", 2, budget=15, checkpoints=(15,))
    assert early["early_stopped"] > 0 and full["early_stopped"] == 0
    assert early["variants"] > full["variants"]


def test_the_longest_stall_is_the_longest_run_of_generations_without_a_merge() -> None:
    stalls = load_benchmark("stalls")
    assert stalls.longest_stall([1, 2, 5, 9], 10) == (3, 6)
    assert stalls.longest_stall([], 4) == (4, 1)
    assert stalls.longest_stall([1, 2, 3], 3) == (0, 1)
    assert stalls.longest_stall([3], 5) == (2, 1)  # a tie: the first run
    run = stalls.one(1, 2)
    assert len(run["excess"]) == 3 and run["evaluations"] > 0
    assert run["longest_stall"] == stalls.longest_stall(run["merged_at"], 2)[0]


def test_an_update_keeps_the_other_methods_runs_and_refuses_another_protocol(
    tmp_path: Path,
) -> None:
    head = {
        "suite": "binpacking",
        "budget": 1000.0,
        "seeds": 2,
        "checkpoints": [60],
        "kind": "efficacy",
    }
    old = {**head, "wall_s": 50.0, "runs": [
        {"method": m, "label": m, "seed": s, "wall_s": 10.0}
        for s in (1, 2) for m in ("augnes", "cma")
    ]}  # fmt: skip
    out = tmp_path / "efficacy_binpacking.json"
    out.write_text(json.dumps(old))
    new = {**head, "wall_s": 7.0, "runs": [
        {"method": "augnes", "label": "augnes", "seed": s, "wall_s": 3.0, "new": True}
        for s in (2, 1)
    ]}  # fmt: skip
    merged = efficacy.kept_with(new, out)
    assert [(r["method"], r["seed"], r.get("new", False)) for r in merged["runs"]] == [
        ("augnes", 1, True), ("cma", 1, False), ("augnes", 2, True), ("cma", 2, False),
    ]  # fmt: skip
    assert merged["wall_s"] == 7.0 + 50.0 * 20 / 40  # the kept half of the old wall time
    with pytest.raises(SystemExit, match="seeds 2"):
        efficacy.kept_with({**new, "seeds": 3}, out)


def test_a_sensitivity_update_replaces_only_the_settings_it_ran(tmp_path: Path) -> None:
    head = {"suite": "control", "budget": 240.0, "seeds": 1, "checkpoints": [60],
            "kind": "sensitivity"}  # fmt: skip
    labels = ("defaults", "variation.sigma = 0.02", "parents.k = 0.5")
    old = {**head, "wall_s": 30.0, "runs": [
        {"method": "augnes", "label": lab, "seed": 1001, "wall_s": 10.0} for lab in labels
    ]}  # fmt: skip
    out = tmp_path / "sensitivity_control.json"
    out.write_text(json.dumps(old))
    ran = ("evaluation.early_stop_margin = 0.02", "defaults")
    new = {**head, "wall_s": 20.0, "runs": [
        {"method": "augnes", "label": lab, "seed": 1001, "wall_s": 10.0, "new": True}
        for lab in ran
    ]}  # fmt: skip
    merged = efficacy.kept_with(new, out)
    assert [(r["label"], r.get("new", False)) for r in merged["runs"]] == [
        ("defaults", True),
        ("variation.sigma = 0.02", False),
        ("evaluation.early_stop_margin = 0.02", True),
        ("parents.k = 0.5", False),
    ]  # in the table's order: defaults first, then the settings as SENSITIVITY lists them
    assert merged["wall_s"] == 20.0 + 30.0 * 20 / 30
    # report.py's timings.json beside the output: this part's entry is retimed alike
    (tmp_path / "timings.json").write_text(json.dumps({"sensitivity_control": 90.0, "x": 5.0}))
    efficacy.retime(out, 20.0, efficacy.kept_share(new, out))
    assert json.loads((tmp_path / "timings.json").read_text()) == {
        "sensitivity_control": 20.0 + 90.0 * 20 / 30,
        "x": 5.0,
    }


def test_a_ceiling_search_records_what_it_would_ship_on_its_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(efficacy, "PATH", (10, 20))
    result = efficacy._ceiling(("binpacking", "priority", "weibull5k", 25))
    assert result["evaluations"] >= 25
    assert [p["evaluations"] for p in result["path"]] == [10, 20]
    first, second = result["path"]
    assert first["in_sample"] <= second["in_sample"] <= result["in_sample"]
    # the bound is the best held-out score seen; the shipped variant's is one of those
    assert result["heldout"] >= result["shipped_heldout"]
    assert result["heldout"] >= max(p["shipped_heldout"] for p in result["path"])
