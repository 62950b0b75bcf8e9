"""Where cost grows faster than work: selection and parent choice over large archives, stats
aggregation over many judgments, git with many archive refs.

    python benchmarks/perf/scale.py [--archives 1000,10000,100000]
        [--judgments 10000,100000,1000000] [--refs 1000,10000] [--out FILE]

Each measurement runs in a fresh process of its own, so that its peak memory (max RSS) is
its own. Archives are synthetic but built with the bot's own types: every variant has four
goals × two judgments, a parent drawn among the newest 200, one elite per strategy.
Aggregation reads a judgments.jsonl of the shape the loop writes (5000 variants, 4 goals,
episodes numbered per variant and goal): once with `bot.aggregate` (the streaming pass
behind `augnes stats --recompute`) and once as the loop holds it (every judgment parsed into
the archive, then scored and the regret file built). Git is timed on a repository with that
many archive refs, loose and packed. The growth of each is the slope of log(time) against
log(size), named: below 0.3 constant, below 0.8 sub-linear (fixed costs still show),
below 1.2 linear, below 1.35 n log n, above that worse.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write_result  # noqa: E402

GOALS = ("acrobot", "cartpole", "mountaincar", "pendulum")
STRATEGIES = ("heuristic", "linear", "mlp", "mpc")


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_of(fn: Any, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


# ---- probes: each runs in a process of its own ---------------------------------------------
def probe_selection(n: int) -> dict[str, Any]:
    """Score the whole archive, decide a generation of four children, choose four parents."""
    from bot.archive import Archive, VariantMeta
    from bot.parents import ArchiveEntry, choose_parents
    from bot.records import Judgment
    from bot.scoring import Weights, median
    from bot.selection import Entrant, Rule, decide

    rng = random.Random(n)
    meta: dict[str, VariantMeta] = {}
    judgments = []
    ids: list[str] = []
    for i in range(n):
        cid = f"c-{i:07x}"
        strategy = STRATEGIES[i % 4]
        parents = (rng.choice(ids[-200:]),) if ids else ()
        meta[cid] = VariantMeta(cid, strategy, strategy, f"{strategy}/c1", "0" * 40, parents,
                                i // 100, "perturb", cid)  # fmt: skip
        ids.append(cid)
        quality = rng.random()
        for goal in GOALS:
            for episode in range(2):
                norm = min(1.0, max(0.0, quality + rng.gauss(0, 0.05)))
                judgments.append(Judgment.model_construct(
                    variant=cid, goal_id=goal, episode=episode, seed=episode, generation=i // 100,
                    reward_norm=norm, regret=100 * (1 - norm), failure=None))  # fmt: skip
    built = time.perf_counter()
    archive = Archive(meta, judgments, {s: ids[i] for i, s in enumerate(STRATEGIES)})
    build_s = time.perf_counter() - built
    weights = Weights(0.5, 0.3, 0.2)
    goal_weights = dict.fromkeys(GOALS, 1.0)

    def score() -> Any:
        return archive.scores(weights=weights, goal_weights=goal_weights, window=2000)

    scores = score()
    score_s = best_of(score)
    children = ids[-4:]
    elites = {s: scores[cid] for s, cid in archive.elites.items()}
    rule = Rule()

    def select() -> None:
        decide([Entrant(c, meta[c].strategy, scores[c]) for c in children], elites, rule=rule,
               rng=random.Random(0))  # fmt: skip

    decide_s = best_of(select)

    def parents() -> None:
        counts = archive.children()
        pool = [ArchiveEntry(cid, m.family, m.strategy, scores[cid].selection_score,
                             counts.get(cid, 0)) for cid, m in sorted(archive.meta.items())]  # fmt: skip
        mid = median(e.score for e in pool)
        choose_parents(pool, count=4, k=10.0, s_mid=mid, boost=2.0, rng=random.Random(0))

    parents_s = best_of(parents)
    return {
        "variants": n,
        "judgments": len(judgments),
        "archive_build_s": round(build_s, 4),
        "score_archive_s": round(score_s, 4),
        "decide_generation_s": round(decide_s, 6),
        "selection_s": round(score_s + decide_s, 4),
        "parent_choice_s": round(parents_s, 4),
        "peak_mib": round(peak_mib(), 1),
    }


def judgment_lines(path: Path, n: int, *, variants: int = 5000) -> None:
    """n judgment lines as the loop writes them: variants in turn, episodes per goal."""
    rng = random.Random(n)
    per_variant = max(1, n // variants)
    with path.open("w") as out:
        written = 0
        v = 0
        while written < n:
            cid = f"c-{v:07x}"
            quality = rng.random()
            for k in range(min(per_variant, n - written)):
                goal = GOALS[k % 4]
                norm = round(min(1.0, max(0.0, quality + rng.gauss(0, 0.05))), 6)
                out.write(json.dumps({
                    "ts": "2026-11-22T10:00:00+00:00", "run_id": "bench", "generation": v // 50,
                    "goal_id": goal, "strategy": STRATEGIES[v % 4], "variant": cid,
                    "parent_id": None, "mutation_id": cid, "operator": "perturb",
                    "commit": "0" * 40, "episode": k // 4, "seed": 1000 + k // 4,
                    "reward": round(500 * norm, 6), "reward_norm": norm,
                    "expected_optimal": 500.0, "regret": round(500 * (1 - norm), 6),
                    "advantage": 0.0, "success": norm > 0.9, "failure": None, "steps": 500,
                    "duration_s": 0.01, "benchmark_score": norm}) + "\n")  # fmt: skip
                written += 1
            v += 1


def probe_stream(path: str) -> dict[str, Any]:
    """`bot.aggregate` over the file, then every variant scored and the regret file built."""
    from bot.aggregate import aggregate
    from bot.archive import VariantMeta, score_all
    from bot.scoring import Weights

    started = time.perf_counter()
    with open(path, "rb") as lines:
        agg = aggregate(lines, window=2000, source=path)
    meta = {cid: VariantMeta(cid, "heuristic", "heuristic", "heuristic/c1", "", (), 0, "seed", cid)
            for cid in agg.tallies}  # fmt: skip
    score_all(meta, agg.tallies, baselines=agg.baselines(), weights=Weights(0.5, 0.3, 0.2),
              goal_weights=dict.fromkeys(GOALS, 1.0))  # fmt: skip
    agg.regret(generation=0)
    return {
        "judgments": agg.judgments,
        "seconds": round(time.perf_counter() - started, 3),
        "peak_mib": round(peak_mib(), 1),
    }


def probe_held(path: str) -> dict[str, Any]:
    """As the loop holds judgments: every line parsed into the archive, scored, regret built."""
    from bot.archive import Archive, VariantMeta
    from bot.lineage_files import parse_jsonl
    from bot.records import Judgment
    from bot.scoring import Weights
    from bot.stats import build_regret

    started = time.perf_counter()
    judgments, _ = parse_jsonl(Path(path).read_text(), Judgment, source=path)
    ids = dict.fromkeys(j.variant for j in judgments)
    meta = {cid: VariantMeta(cid, "heuristic", "heuristic", "heuristic/c1", "", (), 0, "seed", cid)
            for cid in ids}  # fmt: skip
    archive = Archive(meta, judgments)
    archive.scores(weights=Weights(0.5, 0.3, 0.2), goal_weights=dict.fromkeys(GOALS, 1.0),
                   window=2000)  # fmt: skip
    build_regret(archive.judgments, generation=0)
    return {
        "judgments": len(judgments),
        "seconds": round(time.perf_counter() - started, 3),
        "peak_mib": round(peak_mib(), 1),
    }


def probe_git(n: int) -> dict[str, Any]:
    """The loop's git operations on a repository with n archive refs: list them, check which
    of a generation's exist, create a generation's four refs with main in one transaction;
    loose refs, then packed (`git pack-refs --all`, what `git gc` does)."""
    from bot.repo import Repo
    from lineage import synthetic

    out: dict[str, Any] = {"refs": n}
    with tempfile.TemporaryDirectory(prefix="augnes-scale-git-") as tmp:
        path = Path(tmp) / "repo"
        synthetic(path, n, max(1, n // 100))
        repo = Repo(path)
        main = repo.branch_sha("main")
        for layout in ("loose", "packed"):
            if layout == "packed":
                subprocess.run(["git", "-C", str(path), "pack-refs", "--all"], check=True)
            out[layout] = git_ops(repo, main, layout)
        out["archive_refs"] = len(repo.refs("refs/augnes/archive/"))
    return out


def git_ops(repo: Any, main: str, layout: str) -> dict[str, float]:
    prefix = "refs/augnes/archive/"
    some = [f"{prefix}c-{i:07x}" for i in range(4)] + [f"{prefix}new-{layout}-x"]
    made = [0]

    def create() -> None:
        refs = {f"{prefix}new-{layout}-{made[0]}-{k}": main for k in range(4)}
        repo.transaction(create=refs, move={"refs/heads/main": (main, main)}, reason="bench")
        made[0] += 1

    return {
        "list_archive_refs_s": round(best_of(lambda: repo.refs(prefix)), 4),
        "existing_s": round(best_of(lambda: repo.existing(some)), 4),
        "create_generation_refs_s": round(best_of(create), 4),
    }


PROBES = {"selection": probe_selection, "stream": probe_stream, "held": probe_held,
          "git": probe_git}  # fmt: skip


def run_probe(name: str, arg: str) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--probe", name, arg],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"probe {name} {arg} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    print(f"{name} {arg}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return result


def growth(sizes: list[int], times: list[float]) -> dict[str, Any]:
    """Slope of log(time) over log(size) between the two largest sizes, and its name."""
    pairs = [(s, t) for s, t in zip(sizes, times, strict=True) if t > 0]
    if len(pairs) < 2:
        return {"exponent": None, "order": "unknown"}
    (s0, t0), (s1, t1) = pairs[-2], pairs[-1]
    k = math.log(t1 / t0) / math.log(s1 / s0)
    order = (
        "constant" if k < 0.3
        else "sub-linear" if k < 0.8
        else "linear" if k < 1.2
        else "n log n" if k < 1.35
        else "worse"
    )  # fmt: skip
    return {"exponent": round(k, 2), "order": order}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--archives", default="1000,10000,100000")
    parser.add_argument("--judgments", default="10000,100000,1000000")
    parser.add_argument("--held", default="10000,100000,300000",
                        help="judgment counts for the in-memory comparison")  # fmt: skip
    parser.add_argument("--refs", default="1000,10000")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/perf/results/scale.json")
    parser.add_argument("--probe", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        name, arg = args.probe
        print(json.dumps(PROBES[name](arg if name in ("stream", "held") else int(arg))))
        return {}

    def sizes(text: str) -> list[int]:
        return [int(x) for x in text.split(",") if x]

    result: dict[str, Any] = {}
    rows = [run_probe("selection", str(n)) for n in sizes(args.archives)]
    ns = [r["variants"] for r in rows]
    result["selection"] = {
        "rows": rows,
        "growth": {
            k: growth(ns, [r[k] for r in rows])
            for k in ("score_archive_s", "selection_s", "parent_choice_s")
        },
    }
    with tempfile.TemporaryDirectory(prefix="augnes-scale-") as tmp:
        stream, held = [], []
        for n in sorted(set(sizes(args.judgments)) | set(sizes(args.held))):
            path = Path(tmp) / f"judgments-{n}.jsonl"
            judgment_lines(path, n)
            size = path.stat().st_size
            if n in sizes(args.judgments):
                stream.append(
                    {**run_probe("stream", str(path)), "file_mib": round(size / 2**20, 1)}
                )
            if n in sizes(args.held):
                held.append({**run_probe("held", str(path)), "file_mib": round(size / 2**20, 1)})
            path.unlink()
    result["aggregation"] = {
        "streaming": stream,
        "held_in_memory": held,
        "growth": {
            "streaming_time": growth(
                [r["judgments"] for r in stream], [r["seconds"] for r in stream]
            ),
            "streaming_memory": growth(
                [r["judgments"] for r in stream], [r["peak_mib"] for r in stream]
            ),
            "held_time": growth([r["judgments"] for r in held], [r["seconds"] for r in held]),
            "held_memory": growth([r["judgments"] for r in held], [r["peak_mib"] for r in held]),
        },
    }
    git_rows = [run_probe("git", str(n)) for n in sizes(args.refs)]
    result["git"] = {
        "rows": git_rows,
        "growth": {
            f"{layout}_{k}": growth([r["refs"] for r in git_rows], [r[layout][k] for r in git_rows])
            for layout in ("loose", "packed")
            for k in ("list_archive_refs_s", "existing_s", "create_generation_refs_s")
        },
    }
    write_result(args.out, result)
    return result


if __name__ == "__main__":
    main()
