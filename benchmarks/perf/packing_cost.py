"""What one bin-packing evaluation costs: the sandboxed path (a bubblewrap worker, one message
per item carrying every instance) against the same packing done in this process with numpy
(the strategy called per instance and item, no wire), and the benchmark's exact fast path.

    python benchmarks/perf/packing_cost.py [--instances 5,20,40] [--repeats 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fastpack import Packer, load_policy  # noqa: E402

from bot.config import load_config  # noqa: E402
from bot.evaluator import EnvPool, Session, packing_spec  # noqa: E402
from bot.goals import load_suite  # noqa: E402
from bot.sandbox import open_sandbox  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", default="5,20,40")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--strategy", default="priority")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/perf/results/packing_cost.json"
    )
    args = parser.parse_args(argv)
    suite = load_suite(ROOT / "benchmarks", "binpacking")
    folder = ROOT / "strategies" / args.strategy
    make, params = load_policy(folder)
    sandbox = open_sandbox(load_config(ROOT).evaluation.model_copy(update={"sandbox": "bwrap"}))
    pool = EnvPool()
    rows = []
    try:
        for n in (int(v) for v in args.instances.split(",")):
            goal = suite.goals[0].model_copy(update={"episodes": n})
            seeds = suite.seeds(goal)
            sandboxed, numpy_here, fast = [], [], []
            packer = Packer(goal, seeds)
            packer.episodes(make, params)  # compiles the fast path's loop
            for _ in range(args.repeats):
                started = time.perf_counter()
                with Session(sandbox, folder, pool, reply_timeout=30, start_timeout=30) as s:
                    s.run([(goal, seeds, 0)])
                sandboxed.append(time.perf_counter() - started)
                started = time.perf_counter()
                packer._pack_in_lockstep(make(params, packing_spec(goal)))
                numpy_here.append(time.perf_counter() - started)
                started = time.perf_counter()
                packer.episodes(make, params)
                fast.append(time.perf_counter() - started)
            row = {
                "instances": n,
                "items": goal.items,
                "sandboxed_s": round(statistics.median(sandboxed), 3),
                "in_process_numpy_s": round(statistics.median(numpy_here), 3),
                "fast_path_s": round(statistics.median(fast), 4),
            }
            row["sandboxed_per_instance_s"] = round(row["sandboxed_s"] / n, 4)
            row["numpy_per_instance_s"] = round(row["in_process_numpy_s"] / n, 4)
            row["ratio"] = round(row["sandboxed_s"] / row["in_process_numpy_s"], 2)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        sandbox.close()
    result = {"strategy": args.strategy, "repeats": args.repeats, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
