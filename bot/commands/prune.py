"""`augnes prune`: delete the branches of decided candidates of older generations, here and
on the forge. Their archive refs stay (refs/augnes/archive/*), so every variant's commit,
the lineage and `git log --graph --all` stay whole; merged ones are in main's history too."""

from __future__ import annotations

import re

import click

from bot.cli import AppContext
from bot.lineage_files import locked
from bot.workspace import Workspace

BRANCH = re.compile(r"^augnes/g(\d{3,})/c-[0-9a-f]{7}(-\d+)?$")


def prune_command(obj: AppContext, *, keep: int, dry_run: bool) -> None:
    ws = Workspace.open(obj.root)
    stats = ws.committed_stats(ws.main_sha())
    current = stats.generation if stats else -1
    below = current - keep  # generations up to this one are pruned
    with locked(ws.repo.state_dir / "writer.lock", wait=False):
        decided = {
            p.branch
            for p in ws.forge.list_pulls()
            if p.state != "open"
            and (m := BRANCH.match(p.branch)) is not None
            and int(m.group(1)) <= below
        }
        local = {
            ref.removeprefix("refs/heads/")
            for ref in ws.repo.refs("refs/heads/augnes/")
            if ref.removeprefix("refs/heads/") in decided
        }
        remote = sorted(decided & set(ws.forge.remote_branches(ws.repo.root, "augnes/")))
        if not dry_run:
            for branch in sorted(local):
                ws.repo.delete_ref(f"refs/heads/{branch}")
            if remote:
                ws.forge.retract(ws.repo.root, [f"refs/heads/{b}" for b in remote])
    verb = "would delete" if dry_run else "deleted"
    where = f"; on {ws.forge.name}: {len(remote)}" if remote else ""
    click.echo(
        f"{verb} {len(local)} branch(es) here{where}, of candidates decided in generations "
        f"≤ {below} (the last {keep} kept); every variant keeps its archive ref, so the "
        "lineage stays whole"
    )
