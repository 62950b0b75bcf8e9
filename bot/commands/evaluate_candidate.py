"""`augnes evaluate-candidate`: the untrusted evaluation job's one step.

Run from a checkout of the base branch (the harness), it evaluates one candidate commit in
the sandbox — its selection episodes, then its held-out ones — and writes the evaluation
artifact, the only thing that leaves the job. A candidate whose changes reach outside one
strategy's folder is refused before any of its code runs.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from bot.artifacts import write_artifact
from bot.candidates import candidate_strategy
from bot.cli import AppContext
from bot.errors import CandidateRefused
from bot.reproduce import run_suite_and_heldout
from bot.workspace import Workspace


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
    # the held-out episodes travel apart; the select job reads them only for new elites
    episodes, heldout = run_suite_and_heldout(
        ws, sha, strategy, harness=harness, heldout=ws.config.evaluation.heldout
    )
    write_artifact(
        out,
        candidate=candidate,
        commit=sha,
        harness=harness,
        suite=ws.suite.name,
        episodes=episodes,
        early_stopped=False,
        seconds=time.perf_counter() - started,
        heldout=heldout,
    )
    failed = sum(1 for e in episodes if e.failure)
    click.echo(
        f"{candidate} ({strategy}, {sha[:10]}): {len(episodes)} episodes, {failed} failed, "
        f"{len(heldout)} held-out; artifact written to {out}"
    )
