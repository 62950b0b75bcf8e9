"""`augnes propose` and `augnes select`: a generation in two halves, for GitHub Actions.

`propose` (the evolve workflow, trusted) plans, pushes the candidate branches and opens
their pull requests, stores the journal on `refs/augnes/journal` and dispatches the
untrusted evaluation. `select` (the select workflow, trusted) takes the journal back and the
evaluation artifacts, checks them strictly, decides, merges or closes, and commits lineage/.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from bot import journal as journals
from bot.artifacts import ArtifactError
from bot.cli import AppContext
from bot.errors import ForgeError, RepoError
from bot.loop import Loop
from bot.sandbox import NoSandbox
from bot.workspace import Workspace


def propose_command(obj: AppContext, *, mutations: int, dispatch: str | None) -> None:
    ws = Workspace.open(obj.root)
    journal = Loop(ws, sandbox=NoSandbox()).propose(mutations=mutations)
    journals.store_on_ref(ws.repo, journal)
    ws.forge.publish(ws.repo.root, [journals.JOURNAL_REF])
    candidates = [
        {"id": e.candidate_id, "sha": e.commit or journal.base, "strategy": e.strategy}
        for e in journal.entries
        if not e.evaluated
    ]
    if dispatch:
        start = getattr(ws.forge, "dispatch", None)
        if start is None:
            raise ForgeError(f"--dispatch needs the github forge; this one is {ws.forge.name}")
        start(
            dispatch,
            ref=ws.base,
            inputs={
                "generation": str(journal.generation),
                "harness": journal.base,
                "candidates": json.dumps(candidates),
            },
        )
    click.echo(
        json.dumps(
            {"generation": journal.generation, "harness": journal.base, "candidates": candidates},
            indent=2,
        )
    )


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


def select_command(obj: AppContext, *, artifacts: Path) -> None:
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
    summary = Loop(ws, sandbox=NoSandbox()).select(artifacts_in(artifacts))
    ws.forge.retract(ws.repo.root, [journals.JOURNAL_REF])
    ws.repo.delete_ref(journals.JOURNAL_REF)
    click.echo(summary.model_dump_json(indent=2))
