"""The embedded loop from a fresh clone: wall time, evaluations, progress and bot overhead.

    python benchmarks/perf/loop_overhead.py [--generations 10] [--mutations 4]

Clones this repository into a temporary folder, runs `augnes run` there as a user would (a
separate process, so start-up is included), and reads back lineage/strategy_stats.json.
Overhead is the share of wall time not spent inside evaluation episodes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--generations", type=int, default=10)
    parser.add_argument("--mutations", type=int, default=4)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/perf/results/loop_overhead.json"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="augnes-bench-") as tmp:
        clone = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bot",
                "run",
                "--generations",
                str(args.generations),
                "--mutations",
                str(args.mutations),
                "--json",
            ],
            cwd=clone,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        process_wall = time.perf_counter() - started
        stats = json.loads((clone / "lineage" / "strategy_stats.json").read_text())
        judgments = (clone / "lineage" / "judgments.jsonl").read_text().splitlines()
    gens = stats["generations"]
    wall = sum(g["wall_s"] for g in gens)
    episodes = sum(g["episode_s"] for g in gens)
    steady = gens[1:]
    steady_wall = sum(g["wall_s"] for g in steady)
    steady_episodes = sum(g["episode_s"] for g in steady)
    result = {
        "generations": args.generations,
        "mutations": args.mutations,
        "process_wall_s": round(process_wall, 2),
        "evaluations": sum(g["evaluated"] for g in gens),
        "early_stopped": sum(g["early_stopped"] for g in gens),
        "episodes": len(judgments),
        "best_benchmark_score": {str(g["generation"]): g["best_benchmark_score"] for g in gens},
        "avg_regret_first": gens[0]["avg_regret"],
        "avg_regret_last": gens[-1]["avg_regret"],
        "overhead_share_in_generations": round(1 - episodes / wall, 4),
        "overhead_share_steady_state": round(1 - steady_episodes / steady_wall, 4),
        "overhead_share_whole_process": round(1 - episodes / process_wall, 4),
        "per_generation": [
            {
                k: g[k]
                for k in (
                    "generation",
                    "evaluated",
                    "merged",
                    "closed",
                    "early_stopped",
                    "best_benchmark_score",
                    "wall_s",
                    "episode_s",
                )
            }
            for g in gens
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "per_generation"}, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
