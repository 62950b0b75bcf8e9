"""`augnes evaluate-candidate`: the untrusted evaluation job's one step.

Run from a checkout of the base branch (the harness), it evaluates one candidate commit in
the sandbox and writes the evaluation artifact — the only thing that leaves the job. A
candidate whose changes reach outside one strategy's folder is refused before any of its
code runs.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from bot.artifacts import write_artifact
from bot.cli import AppContext
from bot.errors import AugnesError
from bot.repo import Repo
from bot.reproduce import run_suite
from bot.workspace import Workspace


class CandidateRefused(AugnesError):
    exit_code = 11
    default_message = "the candidate was refused before evaluation"


def candidate_strategy(repo: Repo, *, base: str, commit: str, strategies_dir: str) -> str:
    """The one strategy folder that `commit` changes since it left `base`; refuses any change
    elsewhere (workflows, the harness, lineage, benchmarks) or across strategies."""
    fork = repo.merge_base(base, commit)
    if fork is None:
        raise CandidateRefused(f"{commit[:12]} shares no history with {base}")
    changed = repo.changed_paths(fork, commit)
    outside = [p for p in changed if not p.startswith(f"{strategies_dir}/")]
    if outside:
        shown = ", ".join(outside[:5]) + (
            f" and {len(outside) - 5} more" if len(outside) > 5 else ""
        )
        raise CandidateRefused(
            f"{commit[:12]} changes files outside {strategies_dir}/: {shown}; a candidate may "
            "change one strategy only"
        )
    folders = sorted({p.split("/")[1] for p in changed if p.count("/") >= 2})
    if len(folders) != 1:
        what = ", ".join(folders) if folders else "nothing"
        raise CandidateRefused(f"{commit[:12]} changes {what}; a candidate changes one strategy")
    return folders[0]


def evaluate_candidate_command(
    obj: AppContext, *, candidate: str, commit: str, out: Path, strategy: str | None = None
) -> None:
    ws = Workspace.open(obj.root, sandbox=obj.sandbox)
    sha = ws.repo.resolve(commit)
    if sha is None:
        raise CandidateRefused(f"{commit}: no such commit here; fetch it first")
    harness = ws.repo.resolve("HEAD") or ""
    if sha == harness and strategy:  # as committed on the base branch: nothing to check
        if strategy not in ws.repo.list_dirs(sha, ws.config.strategies_dir):
            raise CandidateRefused(f"no strategy {strategy!r} in {ws.config.strategies_dir}/")
    else:
        strategy = candidate_strategy(
            ws.repo, base=harness, commit=sha, strategies_dir=ws.config.strategies_dir
        )
    started = time.perf_counter()
    episodes = run_suite(ws, sha, strategy)
    write_artifact(
        out,
        candidate=candidate,
        commit=sha,
        harness=harness,
        suite=ws.suite.name,
        episodes=episodes,
        early_stopped=False,
        seconds=time.perf_counter() - started,
    )
    failed = sum(1 for e in episodes if e.failure)
    click.echo(
        f"{candidate} ({strategy}, {sha[:10]}): {len(episodes)} episodes, {failed} failed; "
        f"artifact written to {out}"
    )
