"""API requests per candidate and wall time of one generation on GitHub (the emulator).

    python benchmarks/perf/github_requests.py [--mutations 4] [--out benchmarks/perf/results/github_requests.json]

Runs the real loop with the GitHub forge against the contract emulator of tests/github (every
request checked against GitHub's description): generation 0 (the seeds) and one generation
of `--mutations` children on the control suite with small budgets, then counts the requests
by operation, reads and writes apart, and splits them into what each candidate costs and
what is paid once (labels, the bot's login, the dashboard).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot.loop import Loop  # noqa: E402
from bot.workspace import Workspace  # noqa: E402
from tests.conftest import GIT_ENV, TEST_PYPROJECT, shrink_goals  # noqa: E402
from tests.github.conftest import FORGE  # noqa: E402
from tests.github.emulator import Emulator  # noqa: E402

ONCE = {"issues/get-label", "issues/create-label", "users/get-authenticated"}
DASHBOARD = {"issues/list-for-repo", "issues/create"}


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, env={**os.environ, **GIT_ENV}
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mutations", type=int, default=4)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/perf/results/github_requests.json"
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="augnes-gh-bench-"))
    repo, bare = tmp / "repo", tmp / "origin.git"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for folder in ("strategies", "benchmarks"):
        shutil.copytree(
            ROOT / folder,
            repo / folder,
            ignore=shutil.ignore_patterns("__pycache__", "results", "perf", "sandbox"),
        )
    shrink_goals(repo / "benchmarks", episodes=3, max_steps=150)
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    emulator = Emulator(bare).start()
    try:
        (repo / "pyproject.toml").write_text(
            TEST_PYPROJECT + FORGE.format(url=emulator.url, remote=bare)
        )
        (repo / "lineage").mkdir()
        (repo / "lineage" / "README.md").write_text("lineage\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "seed strategies")
        git(repo, "push", "-q", str(bare), "main")
        os.environ["GITHUB_TOKEN"] = "bot-token"
        Loop(Workspace.open(repo)).run(generations=None, until=0, mutations=args.mutations)
        emulator.log.clear()
        started = time.perf_counter()
        [summary] = Loop(Workspace.open(repo)).run(
            generations=1, until=None, mutations=args.mutations
        )
        seconds = time.perf_counter() - started
    finally:
        emulator.stop()
    ops = Counter(op for _, op, _ in emulator.log)
    reads = Counter(op for method, op, _ in emulator.log if method == "GET")
    writes = Counter(op for method, op, _ in emulator.log if method != "GET")
    dashboard_update = 1 if ops["issues/update"] > summary.closed else 0
    per_candidate_writes = sum(n for op, n in writes.items() if op not in ONCE | DASHBOARD)
    per_candidate_writes -= dashboard_update
    per_candidate_reads = sum(n for op, n in reads.items() if op not in ONCE | DASHBOARD)
    candidates = summary.merged + summary.closed
    result = {
        "mutations": args.mutations,
        "merged": summary.merged,
        "closed": summary.closed,
        "generation_wall_s": round(seconds, 2),
        "requests": dict(sorted(ops.items())),
        "reads": sum(reads.values()),
        "writes": sum(writes.values()),
        "writes_per_candidate": round(per_candidate_writes / candidates, 2),
        "writes_per_merged_candidate": 6,
        "writes_per_closed_candidate": 5,
        "reads_per_candidate": round(per_candidate_reads / candidates, 2),
        "violations": len(emulator.violations),
    }
    assert per_candidate_writes == 6 * summary.merged + 5 * summary.closed, result
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
