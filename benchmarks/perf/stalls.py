"""How long the default loop goes without a merge: `augnes run -g 20 -m 4` on bin packing,
once per search seed, on the exact fast path (the memory loop decides what a real run
decides; tests/perf_fastpack_test.py holds them equal).

For every seed: the generations that merged, the longest run of generations with no merge
at all, and the shipped variant's in-sample excess (the percentage of bins over the lower
bound) when that run began — set beside the family's headroom, the excess plain CMA-ES
reaches in-sample at 1,000 evaluations in efficacy_binpacking.json.

    python benchmarks/perf/stalls.py --seeds 20 --generations 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from efficacy import Budget, config_of, evaluator_of, seeds_of, suite_of  # noqa: E402
from memory_loop import MemoryLoop  # noqa: E402

MUTATIONS = 4


def longest_stall(merged_at: list[int], generations: int) -> tuple[int, int]:
    """The longest run of generations 1..`generations` without a merge, and the generation
    it began at (the first such run on a tie; (0, 1) when every generation merged)."""
    best, streak, start = (0, 1), 0, 1
    for g in range(1, generations + 1):
        streak = 0 if g in merged_at else streak + 1
        if streak == 1:
            start = g
        if streak > best[0]:
            best = (streak, start)
    return best


def one(seed: int, generations: int, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    suite = suite_of("binpacking")
    evaluate = evaluator_of(suite)
    seeds = seeds_of(suite)
    full = max(sum(g.episodes for g in suite.goals_for(s.manifest.suites)) for s in seeds.values())
    budget = Budget(suite, evaluate, full, float("inf"))
    loop = MemoryLoop(
        config_of("binpacking", seed, overrides or {}), suite, dict(seeds), budget.run
    )
    merged_at: list[int] = []
    excess: list[float] = []
    for _ in range(generations + 1):
        entries = loop.step(MUTATIONS)
        if any(e.merged for e in entries):
            merged_at.append(loop.generation)
        shipped = loop.shipped()
        bench = loop.scores()[shipped].benchmark_score if shipped else 0.0
        excess.append(round(10 * (1 - bench), 4))  # reward_norm 1 − excess % / 10
    length, start = longest_stall(merged_at, generations)
    return {
        "seed": seed,
        "merged_at": merged_at,
        "longest_stall": length,
        "stall_from": start,
        "excess_at_stall": excess[start - 1],
        "excess": excess,
        "evaluations": round(budget.spent, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--generations", type=int, default=20)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "stalls.json")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=JSON",
        help="a setting other than the default, e.g. selection.min_improvement=0.001",
    )
    args = parser.parse_args()
    overrides: dict[str, Any] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not (sep and dot):
            parser.error(f"--set {item!r}: write SECTION.KEY=VALUE")
        overrides.setdefault(section, {})[name] = json.loads(value)
    started = time.perf_counter()
    runs = []
    for seed in range(1, args.seeds + 1):
        r = one(seed, args.generations, overrides)
        print(f"seed {seed}: merged at {r['merged_at']}, longest stall {r['longest_stall']} "
              f"from g{r['stall_from']} at {r['excess_at_stall']} %", flush=True)  # fmt: skip
        runs.append(r)
    stalls = [r["longest_stall"] for r in runs]
    out = {
        "generations": args.generations,
        "mutations": MUTATIONS,
        "settings": overrides,
        "runs": runs,
        "longest_stall": {"median": statistics.median(stalls), "max": max(stalls)},
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out["longest_stall"]))


if __name__ == "__main__":
    main()
