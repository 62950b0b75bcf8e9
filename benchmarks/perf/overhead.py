"""What the loop costs besides the episodes: the share of a generation's wall time spent
outside evaluation episodes, phase by phase; local-forge and git operations per candidate;
evaluation throughput with one and two worker processes.

    python benchmarks/perf/overhead.py [--generations 6] [--mutations 4]
        [--throughput-mutations 8] [--out FILE]

Runs the loop in this process on scratch clones of this repository (the shipped control
suite, the configured sandbox), after a first run of generation 0 (the seeds) that is not
counted. Forge operations are counted by wrapping the local forge's methods; git operations
are the git processes the run starts, from git's own trace (GIT_TRACE2_EVENT), plus the
objects the bot writes itself. Throughput is candidates per second of evaluation phase, on
the same candidates with `--workers 1` and `--workers 2` (results are identical): over the
whole run, and in steady state (after the first generation, which starts the worker
processes).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import clone, write_result  # noqa: E402

from bot.loop import Event, Loop  # noqa: E402
from bot.workspace import Workspace  # noqa: E402

PHASE = re.compile(r"^g(\d+) (_\w+): ([\d.]+)s$")


class PhaseLog(logging.Handler):
    """The loop's debug lines `gNNN _phase: 1.234s`, summed per phase."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seconds: Counter[str] = Counter()
        self.by_generation: dict[int, Counter[str]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        m = PHASE.match(record.getMessage())
        if m:
            phase, seconds = m.group(2).lstrip("_"), float(m.group(3))
            self.seconds[phase] += seconds
            self.by_generation.setdefault(int(m.group(1)), Counter())[phase] += seconds


def cpu_times() -> tuple[float, float]:
    """The machine's busy and total CPU time so far (all cores, from /proc/stat)."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def measure(repo: Path, *, generations: int, mutations: int, workers: int) -> dict[str, Any]:
    Loop(Workspace.open(repo), on_event=lambda e: None).run(generations=0, until=0, mutations=1)
    trace = repo.parent / f"trace-{workers}.json"
    os.environ["GIT_TRACE2_EVENT"] = str(trace)
    phases = PhaseLog()
    logger = logging.getLogger("bot.loop")
    logger.addHandler(phases)
    logger.setLevel(logging.DEBUG)
    ws = Workspace.open(repo, workers=workers)
    calls: Counter[str] = Counter()
    for name in dir(ws.forge):
        method = getattr(ws.forge, name)
        if name.startswith("_") or not callable(method):
            continue

        def counted(*args: Any, _m: Any = method, _n: str = name, **kwargs: Any) -> Any:
            calls[_n] += 1
            return _m(*args, **kwargs)

        setattr(ws.forge, name, counted)
    events: list[Event] = []
    stored_before = sum(1 for _ in (repo / ".git" / "objects").rglob("*") if _.is_file())
    started = time.perf_counter()
    busy0, total0 = cpu_times()
    try:
        summaries = Loop(ws, on_event=events.append).run(
            generations=generations, until=None, mutations=mutations
        )
    finally:
        os.environ.pop("GIT_TRACE2_EVENT", None)
        logger.removeHandler(phases)
    wall = time.perf_counter() - started
    busy1, total1 = cpu_times()
    stored = sum(1 for _ in (repo / ".git" / "objects").rglob("*") if _.is_file()) - stored_before
    git: Counter[str] = Counter()
    for line in trace.read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "start":
            argv = [a for a in event["argv"][1:] if not a.startswith("-")]
            git[argv[0] if argv else "git"] += 1
    candidates = sum(s.evaluated for s in summaries)
    gen_wall = sum(s.wall_s for s in summaries)
    episode_s = sum(s.episode_s for s in summaries)
    return {
        "workers": workers,
        "generations": generations,
        "mutations": mutations,
        "candidates": candidates,
        "wall_s": round(wall, 3),
        # cores kept busy on average over the run (the whole machine: run it alone)
        "cores_busy": round((busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1), 2),
        "generation_wall_s": round(gen_wall, 3),
        "episode_s": round(episode_s, 3),
        "overhead_share": round(1 - episode_s / gen_wall, 4) if workers == 1 else None,
        "phases_s": {k: round(v, 3) for k, v in sorted(phases.seconds.items())},
        "evaluation_throughput_per_s": round(candidates / phases.seconds["evaluate"], 3),
        # after the first generation: worker processes started, environments made
        "steady_throughput_per_s": round(
            sum(s.evaluated for s in summaries[1:])
            / sum(phases.by_generation[s.generation]["evaluate"] for s in summaries[1:]),
            3,
        ),
        "forge_calls": dict(sorted(calls.items())),
        "forge_calls_per_candidate": round(sum(calls.values()) / candidates, 2),
        "git_processes": dict(git.most_common()),
        "git_processes_per_candidate": round(sum(git.values()) / candidates, 2),
        "objects_written_per_candidate": round(stored / candidates, 2),
        "best_benchmark_score": summaries[-1].best_benchmark_score,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--generations", type=int, default=6)
    parser.add_argument("--mutations", type=int, default=4)
    parser.add_argument("--throughput-mutations", type=int, default=8)
    parser.add_argument("--throughput-generations", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2, help="throughput runs per worker count")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/perf/results/overhead.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="augnes-overhead-") as tmp:
        one = measure(
            clone(ROOT, Path(tmp) / "a"),
            generations=args.generations,
            mutations=args.mutations,
            workers=1,
        )
        print(f"overhead: {json.dumps(one)}", file=sys.stderr, flush=True)
        runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
        for repeat in range(args.repeats):  # alternating, so drifts of the machine even out
            for workers in (1, 2):
                runs[workers].append(
                    measure(
                        clone(ROOT, Path(tmp) / f"t{workers}-{repeat}"),
                        generations=args.throughput_generations,
                        mutations=args.throughput_mutations,
                        workers=workers,
                    )
                )
                print(f"throughput {workers}: {runs[workers][-1]['steady_throughput_per_s']}/s",
                      file=sys.stderr, flush=True)  # fmt: skip

    def median(workers: int, key: str) -> float:
        return float(statistics.median(r[key] for r in runs[workers]))

    result = {
        "overhead": one,
        "throughput": {
            "one_worker": runs[1][0],
            "two_workers": runs[2][0],
            "repeats": args.repeats,
            "one_worker_steady_per_s": [r["steady_throughput_per_s"] for r in runs[1]],
            "two_workers_steady_per_s": [r["steady_throughput_per_s"] for r in runs[2]],
            "speedup": round(
                median(2, "evaluation_throughput_per_s") / median(1, "evaluation_throughput_per_s"),
                3,
            ),
            "steady_speedup": round(
                median(2, "steady_throughput_per_s") / median(1, "steady_throughput_per_s"), 3
            ),
            "cores": os.cpu_count(),
        },
    }
    write_result(args.out, result)
    return result


if __name__ == "__main__":
    main()
