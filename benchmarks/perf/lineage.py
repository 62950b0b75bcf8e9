"""`augnes lineage` on a synthetic archive, and `augnes dashboard build` for many generations.

    python benchmarks/perf/lineage.py [--variants 10000] [--generations 100]
        [--out benchmarks/perf/results/lineage.json]

Builds, with `git fast-import`, a repository shaped like a long run: `--variants` candidate
commits with Augnes-* trailers and their archive refs over `--generations` generations (four
children of random earlier variants per step, one in ten merged into main), and a
strategy_stats.json / regret.json on main describing them. Then times `augnes lineage` (all
four formats) and `augnes dashboard build` as separate processes and records their peak
memory (max RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOALS = ("acrobot", "cartpole", "mountaincar", "pendulum")
OPERATORS = ("perturb", "crossover", "code-constant", "code-condition")


def variant(cid: str, parents: list[str], generation: int, operator: str, status: str,
            decision: str, rng: random.Random) -> dict:  # type: ignore[type-arg]  # fmt: skip
    score = round(rng.random(), 6)
    return {
        "candidate_id": cid, "strategy": "heuristic", "family": "heuristic",
        "niche": "heuristic/c1", "commit": "0" * 40, "parents": parents,
        "generation": generation, "operator": operator, "content": cid, "summary": operator,
        "status": status, "decision": decision, "uses": 200, "fails": 0,
        "mean_reward": score, "avg_advantage": 0.0, "benchmark_score": score,
        "delta_score": 0.0, "selection_score": score, "sum_regret": 1.0, "avg_regret": 1.0,
        "goals": {g: {"uses": 50, "fails": 0, "mean_reward_norm": score, "sum_regret": 1.0,
                      "avg_regret": 1.0} for g in GOALS},
    }  # fmt: skip


def synthetic(repo: Path, variants: int, generations: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    lines: list[str] = []
    mark = 0

    def commit(message: str, parents: list[int], files: dict[str, str] | None = None) -> int:
        nonlocal mark
        mark += 1
        data = message.encode()
        lines.append("commit refs/heads/scratch")
        lines.append(f"mark :{mark}")
        lines.append("committer Augnes <bot@augnes.invalid> 1700000000 +0000")
        lines.append(f"data {len(data)}")
        lines.append(message)
        if parents:
            lines.append(f"from :{parents[0]}")
            lines.extend(f"merge :{p}" for p in parents[1:])
        for path, text in (files or {}).items():
            blob = text.encode()
            lines.append(f"M 644 inline {path}")
            lines.append(f"data {len(blob)}")
            lines.append(text)
        return mark

    root = commit("seed strategies\n", [])
    main = root
    marks: dict[str, int] = {}
    records: dict[str, dict] = {}  # type: ignore[type-arg]
    ids = [f"c-s{n:06d}" for n in range(4)]
    for cid in ids:
        marks[cid] = root
        records[cid] = variant(cid, [], 0, "seed", "active", "", rng)
    per_generation = max(1, -(-(variants - 4) // generations))
    summaries = []
    n = 0
    for g in range(1, generations + 1):
        merged = closed = 0
        for _ in range(per_generation):
            if len(ids) >= variants:
                break
            parent = rng.choice(ids[-200:])
            operator = rng.choice(OPERATORS)
            cid = f"c-{n:07x}"
            n += 1
            message = (
                f"augnes(g{g:03d}): {cid} ← {parent}: {operator}\n\n"
                f"Augnes-Candidate: {cid}\nAugnes-Parent: {parent}\nAugnes-Generation: {g}\n"
                f"Augnes-Operator: {operator}\n"
            )
            marks[cid] = commit(message, [main, marks[parent]])
            won = rng.random() < 0.1
            if won:
                main = commit(f"Merge {cid}\n", [main, marks[cid]])
                merged += 1
            else:
                closed += 1
            records[cid] = variant(
                cid, [parent], g, operator, "active", "merged: S" if won else "closed: S", rng
            )
            ids.append(cid)
        summaries.append({
            "generation": g, "run_id": "bench", "evaluated": merged + closed, "merged": merged,
            "closed": closed, "early_stopped": 0, "best_selection_score": 0.5 + g / 1000,
            "best_benchmark_score": 0.5 + g / 1000,
            "avg_regret": {goal: 100.0 - g / 2 for goal in GOALS}, "wall_s": 5.0,
            "episode_s": 4.5,
        })  # fmt: skip
    records[ids[-1]]["status"] = "elite"
    stats = {
        "schema_version": 1, "generation": generations, "formula": "weighted",
        "weights": {"mean": 0.5, "advantage": 0.3, "delta": 0.2},
        "baselines": {g: 0.5 for g in GOALS}, "elites": {"heuristic": ids[-1]},
        "variants": records, "strategies": {}, "generations": summaries,
    }  # fmt: skip
    regret = {
        "schema_version": 1, "generation": generations,
        "goals": {g: {"sum_regret": 1.0, "avg_regret": 1.0, "judgments": variants * 50,
                      "distribution": {"min": 0.0, "p25": 1.0, "median": 2.0, "p75": 3.0,
                                       "max": 9.0},
                      "trend": {str(k): 100.0 - k / 2 for k in range(generations + 1)}}
                  for g in GOALS},
    }  # fmt: skip
    main = commit(
        f"augnes(g{generations:03d}): selection\n",
        [main],
        {
            "lineage/strategy_stats.json": json.dumps(stats),
            "lineage/regret.json": json.dumps(regret),
            "augnes.toml": 'suite = "control"\n',
            **{
                str(p.relative_to(ROOT)): p.read_text()
                for folder in ("benchmarks/control", "strategies/heuristic")
                for p in (ROOT / folder).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts
            },
        },
    )
    lines.append("reset refs/heads/main")
    lines.append(f"from :{main}")
    for cid, m in marks.items():
        lines.append(f"reset refs/augnes/archive/{cid}")
        lines.append(f"from :{m}")
    lines.append("done")
    subprocess.run(
        ["git", "fast-import", "--quiet", "--done"],
        cwd=repo,
        input=("\n".join(lines) + "\n").encode(),
        check=True,
    )
    subprocess.run(["git", "branch", "-q", "-D", "scratch"], cwd=repo, check=True)
    subprocess.run(["git", "checkout", "-q", "main"], cwd=repo, check=True)


def timed(repo: Path, *args: str) -> tuple[float, float, str]:
    """Wall seconds and peak RSS (MiB) of one `augnes` process (and the git processes it
    waited for), and its output."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "-C", str(repo), *args],
            stdout=subprocess.PIPE,
            stderr=err,
        )
        assert proc.stdout is not None
        out = proc.stdout.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        if proc.returncode:
            err.seek(0)
            raise SystemExit(f"augnes {' '.join(args)}: {out}{err.read().decode()}")
    return wall, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", type=int, default=10_000)
    parser.add_argument("--generations", type=int, default=100)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/perf/results/lineage.json")
    parser.add_argument("--keep", type=Path, help="Copy the synthetic repository here.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="augnes-lineage-bench-") as tmp:
        repo = Path(tmp) / "repo"
        started = time.perf_counter()
        synthetic(repo, args.variants, args.generations)
        made = time.perf_counter() - started
        if args.keep:
            subprocess.run(["cp", "-r", str(repo), str(args.keep)], check=True)
        baseline_wall, baseline_mb, _ = timed(repo, "--version")
        wall, peak, out = timed(repo, "lineage", "--out", str(Path(tmp) / "graph"), "--json")
        summary = json.loads(out)
        dot_only, dot_peak, _ = timed(
            repo, "lineage", "--out", str(Path(tmp) / "dot"), "--format", "dot"
        )
        dash, dash_peak, _ = timed(repo, "dashboard", "build", "--out", str(Path(tmp) / "site"))
        sizes = {p.name: p.stat().st_size for p in (Path(tmp) / "graph").iterdir()}
    result = {
        "variants": summary["variants"],
        "edges": summary["edges"],
        "generations": args.generations,
        "synthetic_repo_s": round(made, 2),
        "interpreter_start_s": round(baseline_wall, 3),
        "lineage_all_formats_s": round(wall, 3),
        "lineage_inside_s": summary["seconds"],
        "lineage_peak_mib": round(peak, 1),
        "lineage_dot_only_s": round(dot_only, 3),
        "dashboard_build_s": round(dash, 3),
        "dashboard_peak_mib": round(dash_peak, 1),
        "file_bytes": sizes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
