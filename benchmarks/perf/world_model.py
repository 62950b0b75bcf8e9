"""World model, capacity sweep, and model-based play against the evolved strategies.

    python benchmarks/perf/world_model.py [--generations 4] [--mutations 4]
        [--transitions 10000] [--hidden-dim 8,16,32,64,128]
        [--buffer-size 1000,2000,5000,10000] [--episodes 10]
        [--out benchmarks/perf/results/world_model.json]

In a scratch clone of this repository (the full control suite, 50 episodes per goal):
evolve a few generations, sample transitions from the elites, train each goal's world
model (the configured 32 hidden units) and report its normalised error against the Δs = 0
and linear baselines, run the capacity sweep, then evaluate the model-based elite and every
non-model elite on the suite's seeds and compare average regret per goal.
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

from bot.reproduce import replay  # noqa: E402
from bot.workspace import Workspace  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--mutations", type=int, default=4)
    parser.add_argument("--transitions", type=int, default=10_000)
    parser.add_argument("--hidden-dim", default="8,16,32,64,128")
    parser.add_argument("--buffer-size", default="1000,2000,5000,10000")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/perf/results/world_model.json"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="augnes-wm-bench-") as tmp:
        repo = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
        augnes(repo, "run", "--generations", str(args.generations), "-m", str(args.mutations))
        augnes(repo, "world-model", "sample", "--transitions", str(args.transitions))
        started = time.perf_counter()
        models = json.loads(augnes(repo, "world-model", "train", "--json"))
        train_wall = time.perf_counter() - started
        sweep = json.loads(
            augnes(
                repo,
                "capacity",
                "sweep",
                "--hidden-dim",
                args.hidden_dim,
                "--buffer-size",
                args.buffer_size,
                "--episodes",
                str(args.episodes),
                "--json",
            )
        )
        ws = Workspace.open(repo)
        stats = ws.committed_stats(ws.main_sha())
        assert stats is not None
        play = {}
        for strategy, cid in sorted(stats.elites.items()):
            started = time.perf_counter()
            result = replay(ws, cid)
            per_goal = {}
            for goal in ws.suite.goals:
                rewards = [e.reward for e in result.episodes if e.goal_id == goal.goal_id]
                per_goal[goal.goal_id] = round(
                    sum(goal.optimal_reward - r for r in rewards) / len(rewards), 3
                )
            play[strategy] = {
                "variant": cid,
                "model_based": ws.strategies_on(ws.main_sha())[strategy].manifest.world_model
                is not None,
                "avg_regret": per_goal,
                "goal_reward_norm": {k: round(v, 4) for k, v in result.goal_means.items()},
                "benchmark_score": round(result.benchmark_score, 4),
                "seconds": round(time.perf_counter() - started, 2),
            }
            print(f"{strategy}: {per_goal}", file=sys.stderr)
    non_model = {k: v for k, v in play.items() if not v["model_based"]}
    best_non_model = {
        goal: min(v["avg_regret"][goal] for v in non_model.values())
        for goal in next(iter(non_model.values()))["avg_regret"]
    }
    result = {
        "generations": args.generations,
        "transitions": args.transitions,
        "models": {
            m["goal_id"]: {
                k: m[k]
                for k in (
                    "hidden_dim",
                    "buffer_size",
                    "epochs",
                    "val_mse",
                    "val_nmse",
                    "linear_nmse",
                    "zero_nmse",
                    "seconds",
                )
            }
            for m in models
        },
        "train_wall_s": round(train_wall, 2),
        "capacity": {
            "experiments": [
                {
                    k: e[k]
                    for k in (
                        "hidden_dim",
                        "buffer_size",
                        "avg_regret",
                        "avg_regret_norm",
                        "avg_advantage",
                        "model_val_nmse",
                        "train_seconds",
                        "eval_seconds",
                    )
                }
                for e in sweep["experiments"]
            ],
            "gains": sweep["gains"],
            "capacity": sweep["capacity"],
            "decision": sweep["decision"],
            "next_capacity": sweep["next_capacity"],
            "gain_at_capacity": sweep["gain_at_capacity"],
            "alert": sweep["alert"],
            "seconds": sweep["seconds"],
        },
        "play": play,
        "best_non_model_avg_regret": best_non_model,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    print(f"written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
