"""Cost per environment step: the strategy in a worker process against the same strategy
called in-process, through the same lockstep evaluator.

    python benchmarks/perf/step_cost.py [--repeats 5] [--out benchmarks/perf/results/step_cost.json]

The in-process side answers the very same frames with the very same code as the worker
(`bot.sandbox.worker`), minus the process boundary: the ratio is the price of isolation.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections import deque
from pathlib import Path
from typing import Any

from bot.evaluator import EnvPool, Session
from bot.goals import load_suite
from bot.sandbox import worker as worker_module
from bot.sandbox.subprocess_backend import SubprocessSandbox

ROOT = Path(__file__).resolve().parents[2]


class InProcessWorker:
    """The worker's request handling, called directly: no process, no pipe."""

    def __init__(self, strategy_dir: Path) -> None:
        self.make_policy, self.params = worker_module._load(strategy_dir)
        self.policies: dict[str, Any] = {}
        self.replies: deque[tuple[dict[str, Any], bytes]] = deque()

    def call(
        self, header: dict[str, Any], payload: bytes = b"", *, timeout: float
    ) -> tuple[dict[str, Any], bytes]:
        if header["op"] == "init":
            self.policies[header["spec"]["goal_id"]] = self.make_policy(self.params, header["spec"])
            return {"op": "ok"}, b""
        return worker_module._act(self.policies, header, payload)

    def send(self, header: dict[str, Any], payload: bytes = b"", *, timeout: float) -> None:
        self.replies.append(self.call(header, payload, timeout=timeout))

    def receive(self, *, timeout: float) -> tuple[dict[str, Any], bytes]:
        return self.replies.popleft()

    def close(self) -> None:
        self.policies.clear()


class InProcessSandbox:
    name = "in-process"

    def start(self, strategy_dir: Path, *, timeout: float) -> InProcessWorker:
        return InProcessWorker(strategy_dir)

    def close(self) -> None:
        pass


def measure(sandbox: Any, strategy: Path, suite: Any, pool: EnvPool) -> tuple[float, int]:
    with Session(sandbox, strategy, pool, reply_timeout=30, start_timeout=60) as session:
        started = time.perf_counter()
        episodes = session.run([(g, suite.seeds(g), 0) for g in suite.goals])
        elapsed = time.perf_counter() - started
    return elapsed, sum(e.steps for e in episodes)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/perf/results/step_cost.json")
    args = parser.parse_args()
    suite = load_suite(ROOT / "benchmarks", "control")
    pool = EnvPool()
    worker = SubprocessSandbox()
    inproc = InProcessSandbox()
    rows = []
    for name in ("linear", "heuristic", "mlp"):
        strategy = ROOT / "strategies" / name
        measure(worker, strategy, suite, pool)  # warm: zygote, imports, environments
        measure(inproc, strategy, suite, pool)
        w, p = [], []
        for _ in range(args.repeats):
            seconds, steps = measure(worker, strategy, suite, pool)
            w.append(seconds / steps)
            seconds, steps = measure(inproc, strategy, suite, pool)
            p.append(seconds / steps)
        row = {
            "strategy": name,
            "steps": steps,
            "worker_us_per_step": round(statistics.median(w) * 1e6, 2),
            "in_process_us_per_step": round(statistics.median(p) * 1e6, 2),
        }
        row["ratio"] = round(row["worker_us_per_step"] / row["in_process_us_per_step"], 3)
        rows.append(row)
        print(
            f"{name:10s} worker {row['worker_us_per_step']:7.2f} µs/step   in-process "
            f"{row['in_process_us_per_step']:7.2f} µs/step   ratio {row['ratio']:.3f}"
        )
    worker.close()
    pool.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": platform.machine(),
                "python": platform.python_version(),
                "repeats": args.repeats,
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
