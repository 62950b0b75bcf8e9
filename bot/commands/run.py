"""`augnes run`: the loop in this repository, with a progress bar and a summary table."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

import click

from bot.cli import AppContext, pipe_safe
from bot.commands.tables import table
from bot.errors import ConfigError
from bot.loop import Event, Loop
from bot.records import GenerationSummary
from bot.report import untrusted_text
from bot.workspace import Workspace

SHOWN_LINES = 8  # of a failure's reason, on the terminal (status and reports show it whole)
PLAIN_EVERY = 5.0  # piped output: seconds between lines about one candidate's progress


class ProgressReporter:
    """Turns loop events into progress and a line per decision. On a terminal (rich): a bar
    of the generation's candidates and one of the current candidate's episodes, with an
    estimate of the time left; piped: plain lines, a candidate's progress only when it has
    run PLAIN_EVERY seconds since the last line about it. Decisions and warnings follow
    each generation."""

    def __init__(self, *, terminal: bool | None = None, console: Any = None) -> None:
        self.terminal = sys.stdout.isatty() if terminal is None else terminal
        self.console = console
        self.live: Any = None  # rich's Progress while a generation is under way
        self.generation_task: Any = None
        self.tasks: dict[str, Any] = {}  # a bar per candidate under evaluation
        self.label = ""
        self.notes: list[str] = []
        self._said: dict[str, float] = {}  # piped: when each candidate's progress was told
        self.llm = LlmCalls()
        self._began: dict[str, float] = {}

    def __call__(self, event: Event) -> None:
        if event.kind == "generation":
            self.close()
            self.label = f"g{event.generation:03d} ({event.detail})"
            if self.terminal:
                self._open(max(1, event.total))
            else:
                click.echo(self.label)
        elif event.kind == "evaluating":
            cid = event.candidate or ""
            self._began[cid] = time.monotonic()
            if self.live is not None:
                self.tasks[cid] = self.live.add_task(
                    f"  {cid} {event.operator}", total=None, unit="episodes"
                )
        elif event.kind == "progress":
            self._progress(event)
        elif event.kind == "evaluated":
            if self.live is not None:
                task = self.tasks.pop(event.candidate or "", None)
                if task is not None:
                    self.live.remove_task(task)
                self.live.update(
                    self.generation_task,
                    advance=1,
                    description=f"{self.label} {event.candidate} {event.detail}",
                )
        elif event.kind == "decided":
            self.notes.append(f"  {event.candidate}: {event.detail}")
        elif event.kind == "problem":
            self.notes.append(f"  warning: {event.detail}")
        elif event.kind == "failure":  # the worker's words, its last lines
            lines = untrusted_text(event.detail).splitlines()
            shown = lines[-SHOWN_LINES:]
            more = f" (last {len(shown)} of {len(lines)} lines)" if len(lines) > len(shown) else ""
            self.notes.append(f"  {event.candidate}: episodes failed{more}:")
            self.notes += [f"    | {line}" for line in shown]
        elif event.kind == "search":
            self.notes.append(f"  search: {event.detail}")
        elif event.kind == "heldout":
            self.notes.append(f"  {event.candidate}: {event.detail}")
        elif event.kind == "committed":
            self.close()
            click.echo(event.detail)
        elif event.kind == "llm":  # told as it happens: a model call can take a while
            self.llm.add(event)
            line = f"  llm: {event.detail}"
            if self.live is not None:
                self.live.console.print(line, markup=False, highlight=False)
            else:
                click.echo(line)

    def _open(self, candidates: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.live = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TimeRemainingColumn(),
            console=self.console or Console(),
            transient=False,
        )
        self.live.start()
        self.generation_task = self.live.add_task(self.label, total=candidates, unit="candidates")

    def _progress(self, event: Event) -> None:
        if self.live is not None:
            task = self.tasks.get(event.candidate or "")
            if task is not None:
                self.live.update(task, completed=event.done, total=event.total)
                self.live.refresh()  # events come at most a few times a second: show each
            return
        cid = event.candidate or ""
        now = time.monotonic()
        if now - self._said.get(cid, self._began.get(cid, now)) < PLAIN_EVERY:
            return
        self._said[cid] = now
        spent = now - self._began.get(cid, now)
        left = spent / event.done * (event.total - event.done) if event.done else None
        click.echo(
            f"  {cid} {event.operator}: {event.done}/{event.total} episodes"
            + (
                f", about {left:.0f} s left"
                if left is not None and event.done < event.total
                else ""
            )
        )

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
            self.tasks.clear()
        for note in self.notes:
            click.echo(note)
        self.notes.clear()


class LlmCalls:
    """The run's model calls per prompt template: calls, tokens, seconds, usable answers."""

    def __init__(self) -> None:
        self.by: dict[str, list[float]] = {}

    def add(self, event: Event) -> None:
        row = self.by.setdefault(event.template or "?", [0, 0, 0.0, 0])
        row[0] += 1
        row[1] += event.total
        row[2] += event.seconds or 0.0
        row[3] += event.outcome == "usable"

    def table(self) -> str:
        rows = [
            [name, int(c), int(t), f"{s:.1f}", int(u)]
            for name, (c, t, s, u) in sorted(self.by.items())
        ]
        return table(["llm template", "calls", "tokens", "seconds", "usable"], rows)


class JsonEvents:
    """One JSON object per line and event, on standard output (for ELK, Loki, jq)."""

    def __init__(self) -> None:
        self.llm = LlmCalls()

    def __call__(self, event: Event) -> None:
        if event.kind == "progress":  # the JSON log keeps one record per state change
            return
        if event.kind == "llm":
            self.llm.add(event)
        record: dict[str, Any] = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "event": event.kind,
            "generation": event.generation if event.generation >= 0 else None,
        }
        if event.candidate:
            record["candidate"] = event.candidate
        if event.operator:
            record["operator"] = event.operator
        if event.detail:
            record["outcome" if event.kind in ("decided", "evaluated") else "detail"] = event.detail
        if event.seconds is not None:
            record["seconds"] = event.seconds
        if event.kind == "llm":
            record.update(template=event.template, outcome=event.outcome, tokens=event.total)
        elif event.total:
            record["total"] = event.total
        click.echo(json.dumps(record, sort_keys=True))

    def close(self) -> None:
        """Nothing is held back."""


def summary_table(summaries: list[GenerationSummary]) -> str:
    # the goals of the suite as it is now: a goal the suite dropped leaves the table
    goals = sorted(summaries[-1].avg_regret) if summaries else []
    headers = [
        "gen",
        "evaluated",
        "merged",
        "closed",
        "best S",
        "best bench",
        "held-out",
        *[f"regret:{g}" for g in goals],
        "wall s",
        "overhead",
    ]
    rows = []
    for s in summaries:
        overhead = 1 - s.episode_s / s.wall_s if s.wall_s else 0.0
        rows.append(
            [
                s.generation,
                s.evaluated,
                s.merged,
                s.closed,
                s.best_selection_score,
                s.best_benchmark_score,
                s.best_heldout_score,
                *[s.avg_regret.get(g) for g in goals],
                f"{s.wall_s:.2f}",
                # with several workers, episodes overlap: their sum may exceed the wall time
                f"{overhead:.1%}" if s.episode_s <= s.wall_s else "– (parallel)",
            ]
        )
    return table(headers, rows)


def run_command(
    obj: AppContext,
    *,
    generations: int,
    until: int | None,
    mutations: int,
    as_json: bool,
    workers: int | None = None,
    strategies: tuple[str, ...] = (),
) -> None:
    ws = Workspace.open(obj.root, sandbox=obj.sandbox, workers=workers)
    if strategies:
        known = sorted(ws.strategies_on(ws.main_sha()))
        unknown = sorted(set(strategies) - set(known))
        if unknown:
            raise ConfigError(
                f"--strategy {', '.join(unknown)}: no such strategy of suite {ws.suite.name} "
                f"on {ws.base}; choose from {', '.join(known)}"
            )
    reporter: ProgressReporter | JsonEvents = (
        JsonEvents() if obj.log_format == "json" else ProgressReporter()
    )
    loop = Loop(ws, on_event=(lambda e: None) if as_json else pipe_safe(reporter))
    loop.focus = frozenset(strategies)
    try:
        summaries = loop.run(
            generations=None if until is not None else generations, until=until, mutations=mutations
        )
    finally:
        pipe_safe(lambda _: reporter.close())(None)
    if obj.log_format == "json" and not as_json:
        for s in summaries:
            click.echo(
                json.dumps({"event": "summary", **s.model_dump(mode="json")}, sort_keys=True)
            )
        return
    if as_json:
        click.echo(json.dumps([s.model_dump(mode="json") for s in summaries], indent=2))
        return
    if not summaries:
        click.echo("Nothing to do: that generation is already complete.")
        return
    click.echo()
    click.echo(summary_table(summaries))
    if reporter.llm.by:
        click.echo()
        click.echo(reporter.llm.table())
    click.echo()
    click.echo("Next: `augnes status`, `augnes stats`, `git log --graph --oneline --all`.")
