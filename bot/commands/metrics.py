"""`augnes metrics serve | push | show`."""

from __future__ import annotations

import time

import click

from bot.cli import AppContext
from bot.dashboard import from_branch
from bot.metrics import collect, exposition, push, serve
from bot.workspace import Workspace


def render(obj: AppContext) -> str:
    ws = Workspace.open(obj.root)
    judgments = ws.repo.read_file(ws.main_sha(), ws.lineage("judgments.jsonl")) or b""
    return exposition(collect(from_branch(ws), judgments.splitlines()))


def serve_command(obj: AppContext, *, host: str, port: int) -> None:
    render(obj)  # fail here, clearly, rather than on the first scrape
    server, _ = serve(host, port, lambda: render(obj))
    click.echo(f"serving http://{host}:{server.server_address[1]}/metrics (Ctrl-C stops)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()


def push_command(obj: AppContext, *, url: str, job: str) -> None:
    text = render(obj)
    push(url, job, text)
    click.echo(f"pushed {text.count(chr(10))} lines to {url} (job {job})")
