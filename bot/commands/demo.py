"""`augnes demo`: a scratch clone of this repository, and the loop run there."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from bot.cli import AppContext
from bot.commands.run import run_command
from bot.errors import RepoError
from bot.repo import Repo, clone


def demo_command(obj: AppContext, *, generations: int, mutations: int, dest: Path | None) -> None:
    source = Repo(obj.root)
    branch = source.git.rev_parse("--abbrev-ref", "HEAD")
    if branch == "HEAD":
        raise RepoError(
            f"{source.root}: HEAD is detached; check out a branch to clone for the demo"
        )
    target = dest or Path(tempfile.mkdtemp(prefix="augnes-demo-")) / source.root.name
    if target.exists() and any(target.iterdir()):
        raise RepoError(f"{target}: exists and is not empty; choose another --dest")
    click.echo(
        f"Cloning {source.root} ({branch}) into {target} — your working copy is not touched."
    )
    clone(source.root, target, branch=branch)
    run_command(
        AppContext(root=target, debug=obj.debug),
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
