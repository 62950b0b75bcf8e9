"""`augnes try PATH`: a strategy folder of the work tree, committed or not, evaluated on its
suites in the sandbox and set beside its niche's elite. No branch, no record."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import click

from bot.cli import AppContext
from bot.commands.run import SHOWN_LINES
from bot.commands.tables import table
from bot.errors import ManifestError
from bot.evaluator import folder_session
from bot.manifest import read_strategy
from bot.parallel import failure_reason
from bot.report import untrusted_text
from bot.reproduce import goal_means
from bot.sandbox import open_sandbox
from bot.scoring import benchmark_score
from bot.workspace import Workspace
from bot.world_model.store import ModelStore


def try_command(obj: AppContext, *, path: Path, as_json: bool) -> None:
    ws = Workspace.open(obj.root, sandbox=obj.sandbox)
    folder = (obj.root / path).resolve()  # relative to -C's folder, as git's -C does
    if not (folder / "strategy.toml").is_file():
        raise ManifestError(
            f"{folder}: no strategy.toml here; give the path of a strategy folder "
            f"(e.g. {ws.config.strategies_dir}/<name>)"
        )
    manifest, params = read_strategy(folder)
    goals = ws.goals_for(manifest)
    if not goals:
        raise ManifestError(
            f"{folder / 'strategy.toml'}: `suites` names no goal of the configured suite "
            f"{ws.suite.name}; add it there or set `suite` in [tool.augnes]"
        )
    main = ws.main_sha()
    store = ModelStore(ws, main, train_missing=False, generation=-1)
    sandbox = open_sandbox(ws.config.evaluation)
    try:
        with tempfile.TemporaryDirectory(prefix="augnes-try-") as tmp:
            where = Path(tmp) / folder.name  # a copy: the worker never sees the work tree
            shutil.copytree(folder, where, ignore=shutil.ignore_patterns("__pycache__"))
            with folder_session(
                ws, sandbox, where, models=store.feed(manifest.capacity(params))
            ) as session:
                episodes = session.run([(g, ws.suite.seeds(g), 0) for g in goals])
                kind, message = session.last_failure or ("", "")
    finally:
        sandbox.close()
    means = goal_means(episodes, goals)
    weights = {g: w for g, w in ws.suite.scored_weights().items() if g in means}
    score = benchmark_score(means, weights)
    stats = ws.committed_stats(main)
    elite_id = stats.elites.get(manifest.name) if stats else None
    elite = stats.variants.get(elite_id) if stats and elite_id else None
    failed = {
        g.goal_id: sum(1 for e in episodes if e.goal_id == g.goal_id and e.failure) for g in goals
    }
    reason = failure_reason(kind, message)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "strategy": manifest.name,
                    "folder": str(folder),
                    "goals": means,
                    "failed_episodes": failed,
                    "benchmark_score": round(score, 6),
                    "elite": elite_id,
                    "elite_benchmark_score": elite.benchmark_score if elite else None,
                    "failure": reason,
                },
                indent=2,
            )
        )
        return
    click.echo(f"{manifest.name} from {folder}, on suite {ws.suite.name} (nothing recorded):")
    rows = [
        [
            g.goal_id,
            means[g.goal_id],
            elite.goals[g.goal_id].mean_reward_norm if elite and g.goal_id in elite.goals else None,
            sum(1 for e in episodes if e.goal_id == g.goal_id),
            failed[g.goal_id],
        ]
        for g in goals
    ]
    click.echo(table(["goal", "reward_norm", "elite's", "episodes", "failed"], rows))
    if elite is not None:
        delta = score - elite.benchmark_score
        click.echo(
            f"benchmark_score {score:.4f}; the niche's elite {elite_id} on {ws.base}: "
            f"{elite.benchmark_score:.4f} ({delta:+.4f})"
        )
    else:
        click.echo(
            f"benchmark_score {score:.4f}; no elite of {manifest.name} on {ws.base} yet: "
            "committed, the next `augnes run` benchmarks it as its niche's first variant"
        )
    if reason:
        lines = untrusted_text(reason).splitlines()
        click.echo(f"episodes failed; the worker's last words (last {SHOWN_LINES} lines):")
        for line in lines[-SHOWN_LINES:]:
            click.echo(f"  | {line}")
