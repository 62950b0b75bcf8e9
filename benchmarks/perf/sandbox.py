"""What confinement costs, per backend, and how fast each attack is contained.

    python benchmarks/perf/sandbox.py [--repeats 20] [--podman] [--out benchmarks/perf/results/sandbox.json]

1. Start-up, median of `--repeats`: a bare interpreter (`python -I -c pass`) against the same
   inside bubblewrap with the worker's command line, and a worker ready to answer, per backend
   (none: forked from its zygote; bwrap: forked from its zygote inside bubblewrap, confining
   itself; docker: a new container).
2. Per step: the control suite through each backend's worker against the same strategy called
   in-process (step_cost.py's InProcessSandbox), median µs per environment step, counting
   the time inside episodes only (start-up is item 1).
3. The hostile suite: payload, backend, outcome, seconds to contain.

With `--podman` it starts a private podman service and builds the worker image on it for the
docker rows; otherwise docker is measured when DOCKER_HOST (or the default socket) answers.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step_cost import InProcessSandbox  # noqa: E402

from bot.evaluator import EnvPool, Session  # noqa: E402
from bot.goals import load_suite  # noqa: E402
from bot.sandbox import Sandbox  # noqa: E402
from bot.sandbox.bwrap_backend import BwrapSandbox, bwrap_command, preflight  # noqa: E402
from bot.sandbox.hostile import run_all  # noqa: E402
from bot.sandbox.subprocess_backend import SubprocessSandbox, worker_environment  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
INIT = {
    "op": "init",
    "spec": {
        "goal_id": "x",
        "env_id": "CartPole-v1",
        "obs_dim": 4,
        "action": {"type": "discrete", "n": 2},
    },
}


def measure(sandbox: Any, strategy: Path, suite: Any, pool: EnvPool) -> tuple[float, int]:
    """Seconds inside episodes (the worker's start is not a step's cost) and steps taken."""
    with Session(sandbox, strategy, pool, reply_timeout=30, start_timeout=120) as session:
        episodes = session.run([(g, suite.seeds(g), 0) for g in suite.goals])
        return session.episode_seconds, sum(e.steps for e in episodes)


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def time_command(argv: list[str], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(argv, check=True, env=worker_environment(), capture_output=True)
        samples.append(time.perf_counter() - started)
    return median_ms(samples)


def time_workers(box: Sandbox, strategy: Path, repeats: int) -> dict[str, float]:
    """Median time until a worker has answered its first request, and until it is gone."""
    box.start(strategy, timeout=120).close()  # warm: zygote, image
    ready, gone = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        worker = box.start(strategy, timeout=120)
        worker.call(INIT, timeout=30)
        ready.append(time.perf_counter() - started)
        started = time.perf_counter()
        worker.close()
        gone.append(time.perf_counter() - started)
    return {"ready_ms": median_ms(ready), "close_ms": median_ms(gone)}


def open_backends(podman: bool, folder: Path) -> tuple[dict[str, Sandbox], Any]:
    boxes: dict[str, Sandbox] = {"none": SubprocessSandbox()}
    if preflight() is None:
        boxes["bwrap"] = BwrapSandbox()
    service = None
    from bot.sandbox.docker_backend import DockerSandbox
    from bot.sandbox.docker_backend import preflight as docker_preflight

    if podman:
        import docker

        from bot.sandbox.image import build_worker_image
        from bot.sandbox.podman import start_service

        service, url = start_service(folder)
        client = docker.DockerClient(base_url=url, timeout=300)
        image = build_worker_image(
            client, ROOT / "benchmarks" / "sandbox", tag="augnes-worker:bench"
        )
        boxes["docker"] = DockerSandbox(base_url=url, image=image)
    elif docker_preflight() is None:
        boxes["docker"] = DockerSandbox()
    return boxes, service


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--podman", action="store_true", help="start podman for the docker rows")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/perf/results/sandbox.json")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="augnes-bench-"))
    boxes, service = open_backends(args.podman, tmp)
    strategy = ROOT / "strategies" / "heuristic"
    result: dict[str, Any] = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "repeats": args.repeats,
        "backends": sorted(boxes),
    }

    bare = [sys.executable, "-I", "-c", "pass"]
    startup: dict[str, Any] = {"bare_interpreter_ms": time_command(bare, args.repeats)}
    if "bwrap" in boxes:
        argv = bwrap_command(user_namespace=False)
        python = argv.index("-I") - 1
        startup["bwrap_interpreter_ms"] = time_command(
            [*argv[: python + 1], "-I", "-c", "pass"], args.repeats
        )
        startup["bwrap_vs_bare"] = round(
            startup["bwrap_interpreter_ms"] / startup["bare_interpreter_ms"], 2
        )
    numpy = [sys.executable, "-I", "-c", "import numpy"]
    startup["bare_interpreter_numpy_ms"] = time_command(numpy, args.repeats)
    for name, box in boxes.items():
        startup[f"{name}_worker"] = time_workers(box, strategy, args.repeats)
    result["startup"] = startup
    print(json.dumps(startup, indent=2))

    suite = load_suite(ROOT / "benchmarks", "control")
    pool = EnvPool()
    steps: list[dict[str, Any]] = []
    inproc = InProcessSandbox()
    for name in ("linear", "heuristic"):
        folder = ROOT / "strategies" / name
        measure(inproc, folder, suite, pool)
        base = []
        for _ in range(3):
            seconds, count = measure(inproc, folder, suite, pool)
            base.append(seconds / count)
        row: dict[str, Any] = {
            "strategy": name,
            "in_process_us": round(statistics.median(base) * 1e6, 2),
        }
        for backend, box in boxes.items():
            measure(box, folder, suite, pool)
            samples = []
            for _ in range(3):
                seconds, count = measure(box, folder, suite, pool)
                samples.append(seconds / count)
            row[f"{backend}_us"] = round(statistics.median(samples) * 1e6, 2)
            row[f"{backend}_ratio"] = round(row[f"{backend}_us"] / row["in_process_us"], 3)
        steps.append(row)
        print(json.dumps(row))
    pool.close()
    result["per_step"] = steps

    hostile = []
    for backend, box in boxes.items():
        if backend != "none":
            hostile += run_all(box, backend, tmp)
    for row in hostile:
        print(
            f"{row['payload']:24s} {row['backend']:7s} {row['outcome']!s:18s} {row['seconds']:6.2f} s"
        )
    result["hostile"] = hostile
    for box in boxes.values():
        box.close()
    if service is not None:
        service.terminate()
        service.wait(timeout=30)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
