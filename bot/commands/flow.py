"""`augnes propose` and `augnes select`: a generation in two halves, for GitHub Actions.

`propose` (the evolve workflow, trusted) plans, pushes the candidate branches and opens
their pull requests, stores the journal on `refs/augnes/journal` and dispatches the
untrusted evaluation. `select` (the select workflow, trusted) takes the journal back and the
evaluation artifacts, checks them strictly, decides, merges or closes, and commits lineage/.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from bot import journal as journals
from bot.artifacts import ArtifactError
from bot.cli import AppContext
from bot.config import OPERATOR_NAMES
from bot.errors import ConfigError, ForgeError, RepoError
from bot.loop import Loop
from bot.records import GenerationSummary
from bot.sandbox import NoSandbox
from bot.workspace import Workspace


def propose_command(
    obj: AppContext,
    *,
    mutations: int,
    generations: int,
    dispatch: str | None,
    dry_run: bool,
    operators: str | None = None,
) -> None:
    ws = Workspace.open(obj.root)
    if operators:
        names = tuple(n.strip() for n in operators.split(",") if n.strip())
        try:
            variation = ws.config.variation.model_validate(
                {**ws.config.variation.model_dump(), "operators": names}
            )
        except ValueError:
            raise ConfigError(
                f"--operators {operators!r}: choose from {', '.join(OPERATOR_NAMES)} "
                "(comma-separated)"
            ) from None
        ws.config = ws.config.model_copy(update={"variation": variation})
    loop = Loop(ws, sandbox=NoSandbox())
    if dry_run:
        planned = journals.load(ws.journal_path) or loop.plan(mutations=mutations)
        click.echo(json.dumps(_proposal(planned), indent=2))
        return
    journal = loop.propose(mutations=mutations, remaining=generations - 1)
    journals.store_on_ref(ws.repo, journal)
    ws.forge.publish(ws.repo.root, [journals.JOURNAL_REF])
    proposal = _proposal(journal)
    if dispatch:
        _dispatch(
            ws,
            dispatch,
            {
                "generation": str(journal.generation),
                "harness": journal.base,
                "candidates": json.dumps(proposal["candidates"]),
            },
        )
    click.echo(json.dumps(proposal, indent=2))


def _proposal(journal: journals.Journal) -> dict[str, Any]:
    return {
        "generation": journal.generation,
        "harness": journal.base,
        "candidates": [
            {"id": e.candidate_id, "sha": e.commit or journal.base, "strategy": e.strategy}
            for e in journal.entries
            if not e.evaluated
        ],
    }


def _dispatch(ws: Workspace, workflow: str, inputs: dict[str, str]) -> None:
    start = getattr(ws.forge, "dispatch", None)
    if start is None:
        raise ForgeError(f"dispatching {workflow} needs the github forge, not {ws.forge.name}")
    start(workflow, ref=ws.base, inputs=inputs)


def artifacts_in(folder: Path) -> dict[str, Path]:
    """Each candidate's artifact, by the folder it was downloaded into
    (`evaluation-<candidate>/evaluation.json`): the name the trusted side chose, which the
    artifact's own claim must then match."""
    found: dict[str, Path] = {}
    for path in sorted(folder.glob("evaluation-*/evaluation.json")):
        candidate = path.parent.name.removeprefix("evaluation-")
        if candidate in found:
            raise ArtifactError(f"{folder}: two artifacts for {candidate}")
        found[candidate] = path
    return found


def select_command(obj: AppContext, *, artifacts: Path, then_dispatch: str | None) -> None:
    ws = Workspace.open(obj.root)
    if not ws.journal_path.exists():  # a fresh checkout: take the journal the propose job left
        ws.forge.fetch(ws.repo.root, journals.JOURNAL_REF)
        journal = journals.load_from_ref(ws.repo)
        if journal is None:
            raise RepoError(
                f"no generation in progress: no {journals.JOURNAL_REF} here or on the forge; "
                "`augnes propose` starts one"
            )
        journals.save(ws.journal_path, journal)
    journal = journals.load(ws.journal_path)
    assert journal is not None
    remaining, mutations = journal.remaining, journal.mutations
    summary = Loop(ws, sandbox=NoSandbox()).select(artifacts_in(artifacts))
    ws.forge.retract(ws.repo.root, [journals.JOURNAL_REF])
    ws.repo.delete_ref(journals.JOURNAL_REF)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as out:
            out.write(job_summary(summary))
    if then_dispatch and remaining > 0:
        _dispatch(ws, then_dispatch, {"generations": str(remaining), "mutations": str(mutations)})
    click.echo(summary.model_dump_json(indent=2))


def job_summary(summary: GenerationSummary) -> str:
    """Markdown for the Actions job summary: the generation's numbers and regret per goal."""
    lines = [
        f"## Augnes generation {summary.generation}",
        "",
        "| evaluated | merged | closed | best benchmark_score | best S |",
        "|---:|---:|---:|---:|---:|",
        f"| {summary.evaluated} | {summary.merged} | {summary.closed} | "
        f"{summary.best_benchmark_score:.4f} | {summary.best_selection_score:.4f} |",
        "",
        "| goal | avg_regret |",
        "|---|---:|",
    ]
    lines += [f"| {goal} | {value:.4f} |" for goal, value in sorted(summary.avg_regret.items())]
    return "\n".join(lines) + "\n"
