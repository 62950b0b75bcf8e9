"""`augnes demo`: a scratch clone of this repository, and the loop run there."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from bot.cli import AppContext
from bot.commands.run import run_command
from bot.config import load_config
from bot.errors import RepoError
from bot.repo import Repo, clone


def demo_command(obj: AppContext, *, generations: int, mutations: int, dest: Path | None) -> None:
    source = Repo(obj.root)
    branch = source.head_branch()
    if branch is None:
        raise RepoError(
            f"{source.root}: HEAD is detached; check out a branch to clone for the demo"
        )
    target = dest or Path(tempfile.mkdtemp(prefix="augnes-demo-")) / source.root.name
    if target.exists() and any(target.iterdir()):
        raise RepoError(f"{target}: exists and is not empty; choose another --dest")
    click.echo(
        f"Cloning {source.root} ({branch}) into {target} — your working copy is not touched."
    )
    scratch = clone(source.root, target, branch=branch)
    base = load_config(scratch.root).base_branch
    if branch != base:  # the loop evolves the base branch: in the scratch clone, that is HEAD
        scratch.checkout_as(base)
        click.echo(f"In the scratch clone, {base} now points at {branch}'s commit.")
    run_command(
        AppContext(root=target, debug=obj.debug, sandbox=obj.sandbox),
        generations=generations,
        until=None,
        mutations=mutations,
        as_json=False,
    )
    click.echo()
    click.echo(f"The demo ran in {target}. Look around:")
    click.echo(f"  cd {target}")
    click.echo("  augnes status && augnes stats && augnes recommend --goal cartpole")
    click.echo("  git log --graph --oneline --all")
