"""Prometheus metrics from lineage/: served for scraping (`augnes metrics serve`) or pushed
to a Pushgateway (`augnes metrics push`), in the text exposition format.

Everything is read from the base branch's lineage files at the moment of the scrape, so the
numbers are the ones `augnes stats` shows; a scrape costs a few git reads.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bot.dashboard import Lineage
from bot.records import RegretFile, StrategyStatsFile
from bot.world_model.capacity import CapacityFile
from bot.world_model.store import WorldModelStatsFile

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Family:
    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.name, self.kind, self.help = name, kind, help_text
        self.samples: list[tuple[dict[str, str], float]] = []

    def add(self, value: float, **labels: str) -> None:
        self.samples.append((labels, float(value)))

    def text(self) -> str:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        for labels, value in self.samples:
            inner = ",".join(f'{k}="{_label(v)}"' for k, v in sorted(labels.items()))
            lines.append(f"{self.name}{{{inner}}} {value!r}" if inner else f"{self.name} {value!r}")
        return "\n".join(lines)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def collect(lineage: Lineage, judgments: Iterable[bytes] = ()) -> list[Family]:
    stats: StrategyStatsFile | None = lineage.load("strategy_stats.json", StrategyStatsFile)
    regret: RegretFile | None = lineage.load("regret.json", RegretFile)
    models: WorldModelStatsFile | None = lineage.load("world_model_stats.json", WorldModelStatsFile)
    capacity: CapacityFile | None = lineage.load("capacity.json", CapacityFile)
    f = {
        "generation": Family("augnes_generation", "gauge", "The last generation recorded on main."),
        "evaluations": Family("augnes_evaluations_total", "counter", "Variants evaluated."),
        "episodes": Family("augnes_episodes_total", "counter", "Episodes judged."),
        "merges": Family("augnes_merges_total", "counter", "Candidates merged."),
        "closures": Family("augnes_closures_total", "counter", "Candidates closed."),
        "failures": Family(
            "augnes_failures_total", "counter", "Failed episodes by kind (crash, timeout, …)."
        ),
        "best": Family("augnes_best_score", "gauge", "Best elite score by kind (S, benchmark)."),
        "regret": Family(
            "augnes_avg_regret", "gauge", "Per goal: the lowest avg_regret among the elites."
        ),
        "regret_change": Family(
            "augnes_avg_regret_change",
            "gauge",
            "Per goal: the elites' avg_regret now minus one generation before (> 0: worse).",
        ),
        "regret_sum": Family(
            "augnes_regret_sum", "gauge", "Per goal: the regret summed over every judgment."
        ),
        "nmse": Family(
            "augnes_world_model_nmse", "gauge", "Per goal: the world model's validation nMSE."
        ),
        "gain": Family(
            "augnes_capacity_gain", "gauge", "Normalised-regret gain per doubling of capacity."
        ),
        "epsilon": Family("augnes_capacity_epsilon", "gauge", "The capacity decision's ε."),
        "hold": Family("augnes_capacity_hold", "gauge", "1 when the capacity decision is hold."),
        "eval_seconds": Family(
            "augnes_evaluation_seconds_total", "counter", "Seconds spent in evaluation episodes."
        ),
        "wall": Family("augnes_generation_seconds", "gauge", "The last generation's wall time."),
        "operator": Family(
            "augnes_operator_children_total",
            "counter",
            "Children per operator and outcome (evaluated, improved, merged, invalid, duplicate).",
        ),
    }
    if stats is not None:
        f["generation"].add(stats.generation)
        f["evaluations"].add(sum(1 for v in stats.variants.values() if v.uses))
        f["episodes"].add(sum(v.uses for v in stats.variants.values()))
        f["merges"].add(sum(g.merged for g in stats.generations))
        f["closures"].add(sum(g.closed for g in stats.generations))
        f["eval_seconds"].add(round(sum(g.episode_s for g in stats.generations), 3))
        if stats.generations:
            last = stats.generations[-1]
            f["best"].add(last.best_selection_score, kind="selection")
            f["best"].add(last.best_benchmark_score, kind="benchmark")
            f["wall"].add(last.wall_s)
            for goal, value in last.avg_regret.items():
                f["regret"].add(value, goal=goal)
        for name, r in stats.operators.items():
            for outcome in ("evaluated", "improved", "merged", "invalid", "duplicate"):
                f["operator"].add(getattr(r, outcome), operator=name, outcome=outcome)
    kinds: Counter[str] = Counter()
    for line in judgments:
        if b'"failure": null' in line or b'"failure"' not in line:
            continue
        kind = json.loads(line).get("failure")
        if kind:
            kinds[str(kind)] += 1
    for kind, n in sorted(kinds.items()):
        f["failures"].add(n, kind=kind)
    if stats is not None and len(stats.generations) >= 2:
        now, before = stats.generations[-1].avg_regret, stats.generations[-2].avg_regret
        for goal in sorted(set(now) & set(before)):
            f["regret_change"].add(round(now[goal] - before[goal], 4), goal=goal)
    if regret is not None:
        for goal, goal_regret in regret.goals.items():
            f["regret_sum"].add(goal_regret.sum_regret, goal=goal)
    if models is not None:
        for goal, m in models.goals.items():
            f["nmse"].add(m.val_nmse, goal=goal)
    if capacity is not None:
        latest = capacity.latest
        if latest.gain_at_capacity is not None:
            f["gain"].add(latest.gain_at_capacity)
        f["epsilon"].add(latest.epsilon)
        f["hold"].add(1 if latest.decision == "hold" else 0)
    return list(f.values())


def exposition(families: Iterable[Family]) -> str:
    return "\n".join(fam.text() for fam in families if fam.samples) + "\n"


def serve(
    host: str, port: int, render: Callable[[], str]
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """An exporter on host:port (`/metrics`), rendering on every scrape."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            if self.path.split("?")[0] not in ("/metrics", "/"):
                self.send_error(404, "only /metrics here")
                return
            try:
                body = render().encode()
                status = 200
            except Exception as exc:  # noqa: BLE001 - a scrape must get an answer
                body, status = f"# error: {exc}\n".encode(), 500
            self.send_response(status)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="augnes-metrics", daemon=True)
    thread.start()
    return server, thread


def push(url: str, job: str, text: str, *, timeout: float = 30.0) -> None:
    """PUT the metrics to a Pushgateway (replacing this job's group)."""
    import requests

    from bot.errors import AugnesError

    target = f"{url.rstrip('/')}/metrics/job/{job}"
    try:
        reply = requests.put(
            target, data=text.encode(), headers={"Content-Type": CONTENT_TYPE}, timeout=timeout
        )
    except requests.RequestException as exc:
        raise AugnesError(f"{target}: {exc.__class__.__name__}: {exc}") from None
    if reply.status_code >= 300:
        raise AugnesError(f"{target}: HTTP {reply.status_code}: {reply.text[:300]}")
