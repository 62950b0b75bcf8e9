"""`augnes repair`: bring the bot's own state under `.git/augnes/` back in line with the
base branch's history, for what a run does not mend by itself. Nobody edits `.git/augnes/`
by hand; nothing is deleted (what is set aside is kept beside, with the date)."""

from __future__ import annotations

import time

import click

from bot import journal as journals
from bot.cli import AppContext
from bot.errors import LineageFileError
from bot.forge import STOP
from bot.lineage_files import locked
from bot.loop import Event, Loop
from bot.repo import BOT_NAME
from bot.workspace import Workspace


def repair_command(obj: AppContext) -> None:
    ws = Workspace.open(obj.root)
    said: list[str] = []

    def on_event(event: Event) -> None:
        if event.kind == "problem":
            said.append(event.detail)

    with locked(ws.repo.state_dir / "writer.lock", wait=False):
        path = ws.journal_path
        try:
            journal = journals.load(path)
        except LineageFileError as exc:
            aside = path.with_name(f"journal.unreadable-{time.strftime('%Y%m%dT%H%M%S')}.json")
            path.replace(aside)
            said.append(f"{exc.message.split(';')[0]}: set aside as {aside}; planned anew next")
            journal = None
        loop = Loop(ws, on_event=on_event)
        try:
            loop._reconcile()  # a generation in progress that main no longer leads to
            journal = journals.load(path)
            owned = {e.pr for e in journal.entries} if journal else set()
            for pull in ws.forge.list_pulls(state="open"):
                if (
                    "augnes" not in pull.labels
                    or STOP in pull.labels
                    or pull.number in owned
                    or not ws.repo.has_commit(pull.head_sha)
                    or ws.repo.author(pull.head_sha) != BOT_NAME
                ):
                    continue  # a person's: their push is benchmarked, their stop obeyed
                ws.forge.close(
                    pull.number,
                    reason="no generation in progress owns it (its generation was undone or "
                    "stopped before deciding); closed by `augnes repair`",
                    labels=["augnes", "augnes:rejected"],
                )
                said.append(f"closed #{pull.number} ({pull.branch}): no generation owns it")
            if loop._follow_start():  # the work tree, where a killed run left it
                loop._follow()
                loop._worktree_record.unlink(missing_ok=True)
        finally:
            loop.sandbox.close()
            loop.pool.close()
        ws.forge.flush()
    for line in said:
        click.echo(f"  {line}")
    click.echo(
        f"Repaired: the state under .git/augnes/ agrees with {ws.base} at {ws.main_sha()[:10]}."
        if said
        else f"Nothing to repair: the state under "
        f".git/augnes/ agrees with {ws.base} at {ws.main_sha()[:10]}."
    )
