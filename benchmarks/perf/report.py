"""The benchmark report: run every benchmark, then write PERFORMANCE.md with tables, plots
and what they mean, and the raw JSON beside it.

    python benchmarks/perf/report.py            # the real figures (about two hours on two cores)
    python benchmarks/perf/report.py --quick    # the same pipeline in minutes, small sizes
    python benchmarks/perf/report.py --render   # only rewrite the report from the JSON

Full mode writes docs/PERFORMANCE.md and docs/performance/ (JSON and SVG); quick mode
writes .bench-quick/ so that a trial run never replaces the committed figures. Sections:
efficacy against baselines on the control and bin-packing suites (efficacy.py), overhead
and throughput (overhead.py), scale (scale.py), sandbox cost (sandbox.py). `--only`
reruns some of them and keeps the others' JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(HERE))

import efficacy_report  # noqa: E402
from efficacy_report import table  # noqa: E402

# (suite, arguments) of every efficacy.py run; the output file is named by its kind
EFFICACY_FULL = [
    ("binpacking", ["--seeds", "20", "--budget", "1000"], "efficacy"),
    ("control", ["--seeds", "10", "--budget", "240"], "efficacy"),
    ("control", ["--ceilings", "600"], "ceilings"),
    ("binpacking", ["--ceilings", "10000"], "ceilings"),
    ("binpacking", ["--sensitivity", "--seeds", "5", "--budget", "1000"], "sensitivity"),
    ("control", ["--sensitivity", "--seeds", "3", "--budget", "240"], "sensitivity"),
    ("binpacking", ["--ablation", "--seeds", "20", "--budget", "1000"], "ablation"),
    ("control", ["--ablation", "--seeds", "10", "--budget", "240"], "ablation"),
]
EFFICACY_QUICK = [
    ("binpacking", ["--seeds", "3", "--budget", "60"], "efficacy"),
    ("control", ["--seeds", "2", "--budget", "20", "--methods", "augnes,v06,random,cma"],
     "efficacy"),
    ("control", ["--ceilings", "30"], "ceilings"),
    ("binpacking", ["--ceilings", "1000"], "ceilings"),
]  # fmt: skip
FULL = {
    "packing_cost": ["--repeats", "3"],
    "overhead": [
        "--generations",
        "6",
        "--mutations",
        "4",
        "--throughput-mutations",
        "8",
        "--throughput-generations",
        "5",
        "--repeats",
        "2",
    ],  # fmt: skip
    "scale": [],
    "sandbox": ["--repeats", "20", "--podman"],
}
QUICK = {
    "packing_cost": ["--repeats", "1", "--instances", "5,20"],
    "overhead": [
        "--generations",
        "2",
        "--mutations",
        "2",
        "--throughput-mutations",
        "4",
        "--throughput-generations",
        "3",
        "--repeats",
        "1",
    ],  # fmt: skip
    "scale": [
        "--archives",
        "1000,10000",
        "--judgments",
        "10000,100000",
        "--held",
        "10000,30000",
        "--refs",
        "200,1000",
    ],  # fmt: skip
    "sandbox": ["--repeats", "3"],
}


def run(script: str, args: list[str], out: Path) -> None:
    """One benchmark script; its wall time goes to timings.json beside its output."""
    started = time.perf_counter()
    print(f"== {script} {' '.join(args)}", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, str(HERE / script), *args, "--out", str(out)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    seconds = time.perf_counter() - started
    print(f"== {script}: {seconds:.0f} s", file=sys.stderr, flush=True)
    path = out.parent / "timings.json"
    timings = json.loads(path.read_text()) if path.is_file() else {}
    timings[out.stem] = round(seconds, 1)
    path.write_text(json.dumps(timings, indent=2, sort_keys=True) + "\n")


def measure(data: Path, sections: list[str], quick: bool) -> None:
    params = QUICK if quick else FULL
    data.mkdir(parents=True, exist_ok=True)
    (data / "timings.json").unlink(missing_ok=True)  # this run's parts only
    if "efficacy" in sections:
        for suite, args, kind in EFFICACY_QUICK if quick else EFFICACY_FULL:
            run("efficacy.py", ["--suite", suite, *args], data / f"{kind}_{suite}.json")
        run("packing_cost.py", params["packing_cost"], data / "packing_cost.json")
    if "overhead" in sections:
        run("overhead.py", params["overhead"], data / "overhead.json")
    if "scale" in sections:
        run("scale.py", params["scale"], data / "scale.json")
    if "sandbox" in sections:
        run("sandbox.py", params["sandbox"], data / "sandbox.json")


# ---- rendering ------------------------------------------------------------------------------
def load(data: Path, name: str) -> Any:
    path = data / name
    return json.loads(path.read_text()) if path.is_file() else None


def fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def efficacy(data: Path) -> tuple[str, dict[str, Any]]:
    """Section 1, from efficacy_report.py, with the cost of a bin-packing evaluation."""
    text, verdicts = efficacy_report.render(data)
    cost = load(data, "packing_cost.json")
    if cost:
        rows = [
            [r["instances"], r["sandboxed_s"], r["in_process_numpy_s"], f"{r['ratio']:.2f}×",
             r["sandboxed_per_instance_s"], r["numpy_per_instance_s"], r["fast_path_s"]]
            for r in cost["rows"]
        ]  # fmt: skip
        text += "\n".join(
            [
                "",
                "### What a bin-packing evaluation costs",
                "",
                f"`benchmarks/perf/packing_cost.py`, strategy `{cost['strategy']}`, 5,000 items "
                f"per instance, median of {cost['repeats']}: the sandboxed path (a bubblewrap "
                "worker, one message per item carrying every instance, two lanes in flight) "
                "against the same packing in this process with numpy, and the benchmark's "
                "exact fast path.",
                "",
                table(
                    [
                        "instances",
                        "sandboxed s",
                        "in-process numpy s",
                        "ratio",
                        "sandboxed s/instance",
                        "numpy s/instance",
                        "fast path s",
                    ],
                    rows,
                ),  # fmt: skip
                "",
            ]
        )
    return text, verdicts


def overhead(data: Path) -> str:
    result = load(data, "overhead.json")
    if result is None:
        return ""
    o, t = result["overhead"], result["throughput"]
    share = o["overhead_share"]
    outside = o["generation_wall_s"] - o["episode_s"]
    phases = [[name, f"{seconds:.2f}"] for name, seconds in o["phases_s"].items()]
    calls = ", ".join(f"{k} {v}" for k, v in o["forge_calls"].items())
    git = ", ".join(f"{k} {v}" for k, v in o["git_processes"].items())
    speedup, steady = t["speedup"], t.get("steady_speedup", t["speedup"])
    busy1 = t["one_worker"].get("cores_busy", 0.0)
    busy2 = t["two_workers"].get("cores_busy", 0.0)
    ceiling = t["cores"] / busy1 if busy1 else float("nan")
    rows = [
        ["share of wall time outside episodes", f"{100 * share:.1f} %",
         "≤ 5 % — " + ("met" if share <= 0.05 else "missed")],
        ["milliseconds outside episodes per candidate", f"{1000 * outside / o['candidates']:.0f}",
         ""],
        ["local-forge calls per candidate", o["forge_calls_per_candidate"], ""],
        ["git processes per candidate", o["git_processes_per_candidate"], ""],
        ["git objects written per candidate", o["objects_written_per_candidate"], ""],
        ["steady throughput, 1 worker (candidates/s of evaluation phase, median)",
         statistics.median(t.get("one_worker_steady_per_s") or [0.0]), ""],
        ["steady throughput, 2 workers", statistics.median(t.get("two_workers_steady_per_s")
                                                           or [0.0]), ""],
        ["speed-up with 2 workers, whole run", f"{speedup:.2f}×", ""],
        ["speed-up with 2 workers, steady state", f"{steady:.2f}×",
         "≥ 1.7× — " + ("met" if steady >= 1.7 else "missed")],
        ["cores busy, 1 worker / 2 workers", f"{busy1:.2f} / {busy2:.2f} of {t['cores']}", ""],
    ]  # fmt: skip
    text = [
        "## 2. Overhead",
        "",
        f"{o['generations']} generations of {o['mutations']} children on the shipped control "
        f"suite, one worker (`benchmarks/perf/overhead.py`): {o['candidates']} candidates, "
        f"{o['generation_wall_s']:.1f} s of generation wall time, {o['episode_s']:.1f} s of it "
        "inside episodes.",
        "",
        table(["", "value", "target"], rows),
        "",
        f"Outside episodes a candidate costs {1000 * outside / o['candidates']:.0f} ms: "
        "planning, commits and refs, pull-request records, exporting the strategy, starting "
        "its worker, recording. The share is measured against cheap episodes: the first stage "
        "stops most losing children after a few episodes, and every episode it saves shrinks "
        "the denominator, not the bot's own work.",
        "",
        "Time per phase over the run (seconds; evaluate includes the episodes):",
        "",
        table(["phase", "seconds"], phases),
        "",
        f"Forge calls over the run: {calls}. Git processes over the run: {git}. Most git work "
        "is done in-process (objects written directly, one persistent `cat-file` reader), so "
        "a candidate costs a few git processes, not dozens.",
        "",
        f"Throughput: {t['one_worker']['candidates']} candidates in "
        f"{t['one_worker']['generations']} generations of {t['one_worker']['mutations']} on a "
        f"{t['cores']}-core machine, `augnes run --workers 1` against `--workers 2` (identical "
        f"judgments), {t.get('repeats', 1)} alternating run(s) each, medians; steady state "
        "leaves out the first generation, which starts the worker processes. One worker "
        f"already keeps {busy1:.2f} cores busy — the trusted side and the strategy's process "
        "work at once, two requests in flight — so two workers can gain at most "
        f"{t['cores']}/{busy1:.2f} = {ceiling:.2f}× here; they reached {steady:.2f}× with "
        f"{busy2:.2f} cores busy. The 1.7× target assumes one candidate occupies one core; "
        "with more cores than workers that bound moves up.",
        "",
    ]
    return "\n".join(text)


def scale(data: Path) -> str:
    result = load(data, "scale.json")
    if result is None:
        return ""
    sel, agg, git = result["selection"], result["aggregation"], result["git"]
    g = sel["growth"]
    stream = agg["streaming"]
    biggest = stream[-1]
    held = agg["held_in_memory"]
    met = biggest["judgments"] >= 1_000_000 and biggest["seconds"] < 10
    flat = agg["growth"]["streaming_memory"]["order"] in ("constant", "sub-linear")
    lines = [
        "## 3. Scale",
        "",
        "`benchmarks/perf/scale.py`; every measurement in a fresh process (peak memory is its "
        "max RSS). Growth: the slope k of log(time) against log(size) between the two "
        "largest sizes (time ∝ size^k).",
        "",
        "### Selection and parent choice",
        "",
        table(
            [
                "variants",
                "judgments",
                "score the archive s",
                "decide a generation s",
                "choose parents s",
                "peak MiB",
            ],
            [
                [
                    f"{r['variants']:,}",
                    f"{r['judgments']:,}",
                    r["score_archive_s"],
                    f"{r['decide_generation_s']:.6f}",
                    r["parent_choice_s"],
                    r["peak_mib"],
                ]
                for r in sel["rows"]
            ],
        ),  # fmt: skip
        "",
        f"Growth: scoring k = {g['score_archive_s']['exponent']} ({g['score_archive_s']['order']}), "
        f"parent choice k = {g['parent_choice_s']['exponent']} "
        f"({g['parent_choice_s']['order']}: it sorts the pool and takes a median). Deciding "
        "a generation touches only its children and their elites: constant.",
        "",
        "### Stats aggregation",
        "",
        table(
            [
                "judgments",
                "file MiB",
                "streaming s",
                "streaming peak MiB",
                "held s",
                "held peak MiB",
            ],
            _aggregation_rows(stream, held),
        ),  # fmt: skip
        "",
        f"**Target under 10 s for 1M judgments with flat memory: {'met' if met and flat else 'missed'}** "
        f"— the streaming pass (`augnes stats --recompute`) read {biggest['judgments']:,} "
        f"judgments in {biggest['seconds']} s at {biggest['peak_mib']} MiB peak; time grows "
        f"k = {agg['growth']['streaming_time']['exponent']}, memory "
        f"k = {agg['growth']['streaming_memory']['exponent']}. Held in memory as the loop "
        f"holds its archive, memory grows k = {agg['growth']['held_memory']['exponent']}: "
        f"{held[-1]['peak_mib']} MiB for {held[-1]['judgments']:,} judgments.",
        "",
        "### Git with many archive refs",
        "",
        table(
            [
                "archive refs",
                "layout",
                "list archive refs s",
                "which of 5 exist s",
                "create a generation's refs + move main s",
            ],
            [
                [
                    f"{r['archive_refs']:,}",
                    layout,
                    r[layout]["list_archive_refs_s"],
                    r[layout]["existing_s"],
                    r[layout]["create_generation_refs_s"],
                ]
                for r in git["rows"]
                for layout in ("loose", "packed")
            ],
        ),  # fmt: skip
        "",
        "Growth: "
        + "; ".join(
            f"{k.replace('_s', '').replace('_', ' ')} k = {v['exponent']}"
            for k, v in git["growth"].items()
        )
        + ". Creating a generation's refs and moving main is one `update-ref --stdin` "
        "transaction and does not grow with the archive. Listing and looking up loose refs "
        "reads every file under refs/augnes/archive/, so it grows linearly; packed (what "
        "`git gc` does on its own, or `git pack-refs --all`) a lookup is flat and a listing "
        "several times cheaper.",
        "",
    ]
    return "\n".join(lines)


def _aggregation_rows(stream: list[dict[str, Any]], held: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for n in sorted({r["judgments"] for r in stream} | {h["judgments"] for h in held}):
        s = next((r for r in stream if r["judgments"] == n), None)
        h = next((r for r in held if r["judgments"] == n), None)
        mib = (s or h or {}).get("file_mib", "–")
        rows.append([f"{n:,}", mib, s["seconds"] if s else "–", s["peak_mib"] if s else "–",
                     h["seconds"] if h else "–", h["peak_mib"] if h else "–"])  # fmt: skip
    return rows


def sandbox(data: Path) -> str:
    result = load(data, "sandbox.json")
    if result is None:
        return ""
    s = result["startup"]
    rows = [["bare interpreter (`python -I -c pass`)", s["bare_interpreter_ms"], "1.00"]]
    if "bwrap_interpreter_ms" in s:
        rows.append(["the same inside bubblewrap", s["bwrap_interpreter_ms"],
                     f"{s['bwrap_vs_bare']:.2f}"])  # fmt: skip
    for backend in result["backends"]:
        w = s.get(f"{backend}_worker")
        if w:
            rows.append([f"{backend} worker ready to answer", w["ready_ms"],
                         f"{w['ready_ms'] / s['bare_interpreter_ms']:.2f}"])  # fmt: skip
    steps = []
    for row in result["per_step"]:
        steps.append([row["strategy"], row["in_process_us"],
                      *[f"{row[f'{b}_us']} ({row[f'{b}_ratio']:.2f}×)" for b in result["backends"]]])  # fmt: skip
    return "\n".join(
        [
            "## 4. Sandbox",
            "",
            f"`benchmarks/perf/sandbox.py`, median of {result['repeats']} starts; per step: the "
            "control suite's episodes, time inside episodes only.",
            "",
            table(["start-up", "ms", "× bare"], rows),
            "",
            table(
                ["strategy", "in-process µs/step", *[f"{b} µs/step" for b in result["backends"]]],
                steps,
            ),  # fmt: skip
            "",
            "The none and bwrap workers are forked from a zygote that has already imported "
            "numpy, so a candidate's worker is ready in milliseconds where a bare interpreter "
            f"that imports numpy takes {s.get('bare_interpreter_numpy_ms', '–')} ms; a docker "
            "worker is a new container. Per step, running the strategy in a worker costs "
            f"{_ratio_range(result)} of calling it in-process (the round trip over the wire, "
            "batched: one per step for all of a goal's episodes); between backends the "
            f"difference is {_backend_spread(result)}, small beside the round trip itself.",
            "",
        ]
    )


def _backend_spread(result: dict[str, Any]) -> str:
    spreads = []
    for row in result["per_step"]:
        values = [row[f"{b}_us"] for b in result["backends"]]
        spreads.append(max(values) / min(values) - 1)
    return f"at most {100 * max(spreads):.0f} %" if spreads else "–"


def _ratio_range(result: dict[str, Any]) -> str:
    ratios = [row[f"{b}_ratio"] for row in result["per_step"] for b in result["backends"]]
    return f"{min(ratios):.2f}–{max(ratios):.2f}×" if ratios else "–"


CHANGES = """## 6. What changed in the code because of these numbers

- **Operators that cross plateaus and adapt.** On bin packing the loop stalled on best fit's
  plateau: a third of the priority family's space scores exactly like best fit, and
  Gaussian steps that move two of nine parameters by 5 % of their range rarely leave it. A
  family's first children now come from a scrambled Sobol design (`design`), `global` draws
  every parameter afresh, `cma` samples the niche's CMA-ES run (its state replayed from what
  it was told, so a killed run resumes exactly), the perturbation's step follows the 1/5
  success rule per niche and widens on plateaus, and a niche without a merge for
  `restart_after` generations explores again.
- **Clones stop early and are no parents.** A child whose first-stage episodes equal its
  parent's, reward for reward, is stopped as a clone; neither clones nor early-stopped
  children are parents any more (their early stop had only been recorded for reruns).
- **Scale-free parent weights, a pool, cells and islands.** `sigmoid(10·(S − median))` on raw
  S, whose spread is a few hundredths, weighed everyone about alike; S is now measured in
  median absolute deviations. Parents come from the best `pool_size`, every elite and the
  best of every behaviour cell (bin packing: exact fits and fill; control: the per-goal
  profile); FunSearch's islands are a setting.
- **Held-out seeds.** The old efficacy figure was the in-sample best on the very episodes it
  was selected on. Every suite has held-out seeds now; each new elite is scored there, shown
  beside its in-sample score, and the efficacy protocol reads only held-out scores.
- **20 bin-packing instances, packed in two lanes.** Five instances over-fit; twenty cost,
  sandboxed, about what the same packing costs in one process with numpy, because the bot
  places one lane's items while the worker scores the other's.
- **A founder may not trail its origin.** Design points put children in empty niches, which
  merged as new strategy folders whatever they scored; a founder must now come within
  `found_margin` of the elite it came from.
- **An exact fast path for the benchmark.** The protocol's 150,000 evaluations run the
  bot's own planner, operators, archive and selection in memory (`memory_loop.py`) on
  evaluators that give the sandboxed episodes to the last digit (`fastpack.py`,
  `fastcontrol.py`), both proved by tests against the sandboxed path and against `augnes
  run` itself.
- **CMA-ES gets most children once a niche has stalled, and not before its 100th child.**
  Left to the bandit, CMA-ES got 2 % of the episodes: a sample rarely beats the elite it is
  drawn around, yet the run needs whole populations to adapt. A sample stopped as a clone is
  told its parent's result (ranked below every full evaluation it pushed the run away from
  its best region). From a niche's first restart and 100th child, `cma_share` (0.8) of its
  children are CMA-ES samples; from the first restart alone, the wide first populations
  took the children a short run improves by (`stalls.py`: 3 of 20 `augnes run -g 20 -m 4`
  runs 13 or more generations without a merge; now none, the longest 12).
- **A merge margin of 0.0005.** The episodes are fixed, so a child's gain on them is real
  there; a margin of 0.005 of `S` refused the small steps a niche climbs by and kept the
  last refinements CMA-ES keeps from the loop (in-sample at 1,000 evaluations 0.671 % against
  CMA-ES's 0.640 %; now 0.645 %).
- **The early-stop margin stays at 0.1, though 0.02 is better per evaluation.** On 20
  bin-packing tuning seeds a margin of 0.02 reached 0.817 % held-out at 60 evaluations
  against 0.847 % (paired advantage +0.320 [+0.052, +0.664]), tied at 240 (−0.005 [−0.024,
  +0.014]) and 1,000 (+0.011 [−0.002, +0.029]); on 10 control tuning seeds +0.0046
  [−0.0005, +0.0097] at 240. But it stops more children that would have merged, and a short
  run counts generations, not evaluations: in `stalls.py` (`augnes run -g 20 -m 4`) the
  longest stall grew from a median of 7 generations and a maximum of 12 to 8 and 13 (2 of
  20 seeds), so the default stays where the stall target holds. Measured once on the
  protocol's seeds, 0.02 gave 0.766, 0.708 and 0.702 % at 60, 240 and 1,000 evaluations
  (0.1: the table above). A margin of 0 stops nine children in ten, trails at 240 and 1,000
  (−0.021 [−0.042, −0.000] and −0.028 [−0.046, −0.009] on the 20 tuning seeds) and, with ten
  times the children per evaluation, costs four times the wall time; it is left out of the
  table.
- **Defaults the small table would have moved, kept on twenty seeds.** The sensitivity
  table's five tuning seeds let one seed carry a row: a setting that looked better there
  was run on twenty bin-packing tuning seeds (1001–1020) before any default moved, held-out
  excess % medians at 60, 240 and 1,000 evaluations against the defaults' 0.847, 0.730 and
  0.717, paired mean advantage [95 % CI]: `first_stage_episodes = 1` 0.838 (+0.275 [+0.049,
  +0.553]), 0.729 (+0.003 [−0.025, +0.031]), 0.716 (−0.001 [−0.025, +0.020]);
  `bandit_floor = 0.15` 0.843, 0.740, 0.709 (+0.012 [−0.005, +0.032] at 1,000);
  `min_improvement = 0` 0.847, 0.724, 0.718; `cma_popsize = 6` 0.792, 0.749, 0.718;
  `islands = 4` 0.887, 0.754, 0.711 (−0.016 [−0.039, +0.005] at 240, +0.001 [−0.021,
  +0.024] at 1,000; its five-seed row says +0.012 and +0.017). A CMA-ES run restarted
  from a uniform point instead of the niche's elite (tried in the code, not kept) changed
  one seed of twenty by 0.001: inside 1,000 evaluations a niche's run rarely ends.
  `design_points = 16` 0.833, 0.733, 0.714 (+0.006 [−0.013, +0.028] at 240; five seeds
  said +0.038); `first_stage_episodes = 4` 0.902, 0.749 (−0.024 [−0.053, +0.001]), 0.717;
  `cma_sigma = 0.5` 0.900, 0.745, 0.731 (−0.008 [−0.027, +0.013] at 1,000); `design_points =
  16` with `cma_popsize = 6` 0.805, 0.721, 0.707 (−0.005 [−0.031, +0.021] at 1,000). Nothing
  moves the loop's figure at 1,000 evaluations by more than the noise; the long search
  beside section 1's bin-packing tables says why: the converged methods stop within
  0.003–0.017 of what ten times the budget ships.
- **Where (a) and (b) part, neither half counts.** Both loops share every operator and step
  size; (b) differs in its parent policy (the best) and its selection formula (v0.6) —
  `found_niches` only names the folder a founder lands in and left every bin-packing seed
  identical. On the twenty bin-packing tuning seeds each half alone ties the defaults:
  best parents 0.797, 0.733, 0.718 (−0.010 [−0.035, +0.015] at 1,000), the v0.6 formula
  0.817, 0.738, 0.714 (+0.004 [−0.009, +0.021]). On ten control tuning seeds at 240
  evaluations (defaults 0.7829 held-out): best parents 0.7863 (+0.002 [−0.005, +0.009]),
  the v0.6 formula 0.7825 (−0.002 [−0.008, +0.004]), the whole (b) 0.7865 (+0.003 [−0.004,
  +0.009]). The operators carry the search; the archive's parent choice does not show.
- **Twice the selection instances do not close the held-out gap.** Selecting on 40
  bin-packing instances instead of 20 (held-out set unchanged) gave 0.842, 0.721 and 0.721 %
  on the twenty tuning seeds (+0.004 [−0.012, +0.024] at 1,000): the gap between in-sample
  and held-out scores is mostly the held-out set being harder — best fit, selected on
  nothing, shows it too (4.226 % held-out, 4.169 % in-sample).
- **With the paired test on, the merge margin never binds.** Twenty instances make one bin
  about 0.005 of an instance's reward, and a one-sided sign-flip test needs five
  differences of one sign (four give p = 1/16), so a child that passes already gains about
  0.0011 of `S` — more than any `min_improvement` tried (≤ 0.001). That is why the
  sensitivity table's three `paired_test` rows are identical, merges included.
- **Ceilings that bound.** A family's ceiling was the held-out score of the variant a
  per-goal CMA-ES found best on its selection episodes; loops with perturb, crossover and
  resample shipped variants above it (control, 0.8055 against 0.7976). Per goal the
  ceiling is now the best held-out result of any variant seen — each the search tries,
  and each a method ships — so the headroom a method closes is measured against a bound.
"""


def timings(data: Path) -> str:
    """How long each part of the report took, and in all (two cores)."""
    parts = load(data, "timings.json")
    if not parts:
        return ""
    rows = [[name, f"{seconds / 60:.1f}"] for name, seconds in parts.items()]
    total = sum(parts.values())
    return "\n".join(
        [
            "## 5. Wall time of each part",
            "",
            "`python benchmarks/perf/report.py` on this machine, each script in turn (an "
            "efficacy script runs two runs at once; a part re-run in part with `efficacy.py "
            "--update` counts the new runs' time and the kept runs' share of the time before):",
            "",
            table(["part (its JSON)", "minutes"], [*rows, ["**all**", f"**{total / 60:.1f}**"]]),
            "",
        ]
    )


def render(data: Path, report: Path, quick: bool, *, only_rendered: bool = False) -> None:
    eff, verdicts = efficacy(data)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()  # fmt: skip
    head = [
        "# Performance",
        "",
        "Generated by `python benchmarks/perf/report.py"
        + (" --quick" if quick else "")
        + (" --render" if only_rendered else "")
        + f"` on {dt.date.today().isoformat()} at commit `{commit}`"
        + (" from the JSON its parts wrote when they last ran (section 5)" if only_rendered else "")
        + ": "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
        + ("**Quick mode: small sizes, not the real figures.** " if quick else "")
        + "Raw numbers: the JSON files in [performance/](performance/).",
        "",
        "Benchmarks measure; they assert nothing. The test suite checks behaviour and never "
        "timing.",
        "",
    ]
    body = [eff, overhead(data), scale(data), sandbox(data), timings(data), CHANGES]
    report.write_text("\n".join(head + [b for b in body if b]).rstrip() + "\n")
    (data / "verdicts.json").write_text(json.dumps(verdicts, indent=2) + "\n")
    print(f"written: {report}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, minutes not hours")
    parser.add_argument("--render", action="store_true", help="only rewrite the report")
    parser.add_argument("--only", help="comma-separated: efficacy, overhead, scale, sandbox")
    parser.add_argument("--out", type=Path, help="the folder for PERFORMANCE.md")
    args = parser.parse_args()
    out = args.out or (ROOT / ".bench-quick" if args.quick else ROOT / "docs")
    data = out / "performance"
    sections = (args.only or "efficacy,overhead,scale,sandbox").split(",")
    unknown = set(sections) - {"efficacy", "overhead", "scale", "sandbox"}
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}")
    if not args.render:
        measure(data, sections, args.quick)
    render(data, out / "PERFORMANCE.md", args.quick, only_rendered=args.render)


if __name__ == "__main__":
    main()
