"""`augnes dashboard build`."""

from __future__ import annotations

import time
from pathlib import Path

import click

from bot.cli import AppContext
from bot.dashboard import build_site, from_branch, from_folder
from bot.workspace import Workspace


def build_command(obj: AppContext, *, out: Path, folder: Path | None) -> None:
    started = time.perf_counter()
    lineage = from_folder(folder) if folder is not None else from_branch(Workspace.open(obj.root))
    target = out if out.is_absolute() else obj.root / out
    written = build_site(lineage, target)
    click.echo(f"dashboard written to {written[0]} in {time.perf_counter() - started:.2f} s")
