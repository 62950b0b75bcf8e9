"""`augnes dashboard build`."""

from __future__ import annotations

import time
from pathlib import Path

import click

from bot.cli import AppContext
from bot.dashboard import Lineage, build_site, from_folder
from bot.workspace import Workspace

FILES = ("strategy_stats.json", "regret.json", "world_model_stats.json", "capacity.json")


def build_command(obj: AppContext, *, out: Path, folder: Path | None) -> None:
    started = time.perf_counter()
    if folder is not None:
        lineage = from_folder(folder)
    else:
        ws = Workspace.open(obj.root)
        main = ws.main_sha()
        found = {n: ws.repo.read_file(main, ws.lineage(n)) for n in FILES}
        lineage = Lineage(
            {n: data for n, data in found.items() if data is not None},
            f"{ws.base}:{ws.config.lineage_dir}",
        )
    target = out if out.is_absolute() else obj.root / out
    written = build_site(lineage, target)
    click.echo(f"dashboard written to {written[0]} in {time.perf_counter() - started:.2f} s")
