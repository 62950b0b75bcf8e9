"""Variation operators over a long run: what each made, discarded, evaluated, improved and
merged; MAP-Elites niche coverage; evaluations saved by novelty and the failure cache.

    python benchmarks/perf/operators.py [--generations 20] [--mutations 4]
        [--out benchmarks/perf/results/operators.json]

Runs `augnes run` in a scratch clone of this repository with every built-in operator but
`llm` enabled (no language model runs here), then reads strategy_stats.json and
`augnes status --niches`.
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
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import augnes  # noqa: E402

from bot.config import OPERATOR_NAMES  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generations", type=int, default=20)
    parser.add_argument("--mutations", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/perf/results/operators.json")
    args = parser.parse_args()
    names = [n for n in OPERATOR_NAMES if n != "llm"]
    with tempfile.TemporaryDirectory(prefix="augnes-ops-bench-") as tmp:
        repo = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
        pyproject = repo / "pyproject.toml"
        text = pyproject.read_text()
        marker = "[tool.augnes.variation]"
        operators = "operators = [" + ", ".join(f'"{n}"' for n in names) + "]\n"
        if marker in text:
            text = text.replace(marker, marker + "\n" + operators, 1)
        else:
            text += f"\n{marker}\n{operators}"
        pyproject.write_text(text)
        subprocess.run(["git", "-C", str(repo), "commit", "-qam", "all operators"], check=True)
        started = time.perf_counter()
        augnes(repo, "run", "--generations", str(args.generations), "-m", str(args.mutations))
        wall = time.perf_counter() - started
        stats = json.loads(
            subprocess.run(
                ["git", "-C", str(repo), "show", "main:lineage/strategy_stats.json"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        grid = json.loads(augnes(repo, "status", "--niches", "--json"))
    ops = stats["operators"]
    evaluations = sum(1 for v in stats["variants"].values() if v["uses"])
    saved_novelty = sum(r["duplicate"] for r in ops.values())
    saved_cache = sum(r["cached"] for r in ops.values())
    result = {
        "generations": args.generations,
        "mutations": args.mutations,
        "wall_s": round(wall, 1),
        "operators": ops,
        "evaluations": evaluations,
        "saved_by_novelty": saved_novelty,
        "saved_by_failure_cache": saved_cache,
        "saved_share": round(
            (saved_novelty + saved_cache) / (evaluations + saved_novelty + saved_cache), 4
        ),
        "niches": {"held": grid["held"], "possible": grid["possible"], "grid": grid["families"]},
        "best_benchmark_score": [g["best_benchmark_score"] for g in stats["generations"]],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "niches"}, indent=2))
    print(f"niches: {grid['held']} of {grid['possible']}")
    print(f"written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
