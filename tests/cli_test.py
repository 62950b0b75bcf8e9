"""The command line: --help everywhere, every command through CliRunner, errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import EXIT_UNEXPECTED, cli
from tests.conftest import ROOT, SEED_STRATEGIES, commit_file, git

COMMANDS = [
    "run",
    "demo",
    "status",
    "stats",
    "recommend",
    "evaluate",
    "evaluate-candidate",
    "doctor",
    "repair",
    "prune",
    "try",
]


def invoke(repo: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["-C", str(repo), *args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage: " in result.output and command in result.output


def test_top_level_help_teaches_the_first_steps() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output
    start = result.output.split("Start here:")[1]
    assert start.lstrip().startswith("augnes init")  # a new user's first command


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; sys.argv = ['augnes', '--help']\n"
        "from bot.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'gymnasium', 'git', 'numpy', 'pydantic') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT
    ).stdout
    assert "HEAVY []" in out


def test_a_repository_without_config_gets_a_clear_error(git_repo: Path) -> None:
    code, output = invoke(git_repo, "status")
    assert code == 2
    assert "no Augnes configuration" in output and "[tool.augnes]" in output


def test_not_a_repository(tmp_path: Path) -> None:
    code, output = invoke(tmp_path, "status")
    assert code == 4 and "not a git repository" in output


def test_read_commands_before_any_run(seeded_repo: Path) -> None:
    code, output = invoke(seeded_repo, "status")
    assert code == 0 and "No generation has been recorded" in output
    code, output = invoke(seeded_repo, "stats")
    assert code == 8 and "run `augnes run` first" in output
    code, output = invoke(seeded_repo, "recommend", "--goal", "cartpole")
    assert code == 0 and "No active variant" in output


def test_run_then_read_everything(seeded_repo: Path) -> None:
    code, output = invoke(seeded_repo, "run", "--generations", "1", "--mutations", "2")
    assert code == 0, output
    assert "augnes(g001): selection — merged" in output
    assert "best bench" in output and "regret:cartpole" in output

    code, output = invoke(seeded_repo, "status", "--json")
    status = json.loads(output)
    assert status["generation"] == 1 and set(status["elites"]) == set(SEED_STRATEGIES)
    assert status["pulls"]["merged"] + status["pulls"]["closed"] == 2

    code, output = invoke(seeded_repo, "status")
    assert "generation 1" in output and "heuristic" in output

    code, output = invoke(seeded_repo, "stats", "--json")
    variants = json.loads(output)
    assert len(variants) == len(SEED_STRATEGIES) + 2 and all(
        "selection_score" in v for v in variants.values()
    )
    code, output = invoke(seeded_repo, "stats", "--goal", "cartpole")
    assert code == 0 and "cartpole:norm" in output and "acrobot:norm" not in output
    code, output = invoke(seeded_repo, "stats", "--regret")
    assert code == 0 and "avg_regret" in output and "pendulum" in output

    code, output = invoke(seeded_repo, "recommend", "--goal", "cartpole", "--json")
    ranked = json.loads(output)
    assert ranked and ranked[0]["score"] == max(r["score"] for r in ranked)
    code, output = invoke(seeded_repo, "recommend", "--goal", "cartpole")
    assert output.startswith(f"Recommended for cartpole: {ranked[0]['candidate_id']}")

    best = ranked[0]["candidate_id"]
    code, output = invoke(seeded_repo, "evaluate", best, "--json")
    again = json.loads(output)
    assert code == 0 and again["goals"] == pytest.approx(
        again["recorded"], abs=1e-5
    )  # reproducible
    code, output = invoke(seeded_repo, "evaluate", "c-0000000")
    assert code == 4 and "no archived variant `c-0000000`" in output


def test_unknown_goal_is_named(seeded_repo: Path) -> None:
    code, output = invoke(seeded_repo, "recommend", "--goal", "walker")
    assert code == 2 and "no goal `walker`" in output and "cartpole" in output


def test_run_json_output(seeded_repo: Path) -> None:
    code, output = invoke(seeded_repo, "run", "-g", "1", "-m", "1", "--json")
    summaries = json.loads(output)
    assert [s["generation"] for s in summaries] == [0, 1]


def test_a_corrupt_journal_is_named(seeded_repo: Path) -> None:
    (seeded_repo / ".git" / "augnes").mkdir(parents=True, exist_ok=True)
    (seeded_repo / ".git" / "augnes" / "journal.json").write_text("[1, 2]")
    result = CliRunner().invoke(cli, ["-C", str(seeded_repo), "status"])
    assert result.exit_code == 8 and "journal.json" in result.output


def test_an_unexpected_error_exits_3_with_a_traceback_file(
    seeded_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.commands.status

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(bot.commands.status, "status_command", broken)
    result = CliRunner().invoke(cli, ["-C", str(seeded_repo), "status"])
    assert result.exit_code == 3
    assert "unexpected error" in result.output and "last-error.log" in result.output
    log = Path(result.output.split("traceback written to ")[1].strip())
    assert "ZeroDivisionError: a bug" in log.read_text()


def test_demo_clones_and_leaves_the_source_untouched(seeded_repo: Path, tmp_path: Path) -> None:
    head = git(seeded_repo, "rev-parse", "HEAD")
    dest = tmp_path / "scratch"
    code, output = invoke(
        seeded_repo, "demo", "--generations", "1", "--mutations", "1", "--dest", str(dest)
    )
    assert code == 0, output
    assert f"into {dest}" in output and f"The demo ran in {dest}" in output
    assert git(seeded_repo, "rev-parse", "HEAD") == head
    assert git(seeded_repo, "status", "--porcelain") == ""
    assert "augnes(g001)" in git(dest, "log", "-1", "--format=%s")


def test_demo_from_a_feature_branch_evolves_that_branch(seeded_repo: Path, tmp_path: Path) -> None:
    main = git(seeded_repo, "rev-parse", "main")
    git(seeded_repo, "checkout", "-q", "-b", "feature")
    head = commit_file(seeded_repo, "NOTES.md", "work in progress\n")
    dest = tmp_path / "scratch"
    code, output = invoke(seeded_repo, "demo", "-g", "1", "-m", "1", "--dest", str(dest))
    assert code == 0, output
    assert "main now points at feature's commit" in output
    git(dest, "merge-base", "--is-ancestor", head, "main")  # evolved on top of feature
    assert git(dest, "log", "-1", "--format=%s", "main").startswith("augnes(g001)")
    assert git(seeded_repo, "rev-parse", "main") == main  # the source is untouched


def test_smoke_the_console_script(seeded_repo: Path) -> None:
    """`augnes run --generations 1 --mutations 2`, as a user types it."""
    out = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--generations", "1", "--mutations", "2"],
        cwd=seeded_repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "augnes(g000): baseline" in out.stdout and "augnes(g001): selection" in out.stdout


def test_json_log_format_writes_one_event_per_line(seeded_repo: Path) -> None:
    result = CliRunner().invoke(
        cli, ["-C", str(seeded_repo), "--log-format", "json", "run", "-g", "1", "-m", "2"]
    )
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines()]
    kinds = {e["event"] for e in events}
    assert {"generation", "planned", "evaluated", "decided", "committed", "summary"} <= kinds
    for e in events:
        assert "ts" in e or e["event"] == "summary"
    evaluated = [e for e in events if e["event"] == "evaluated" and e["generation"] == 1]
    assert evaluated and all(e["operator"] and e["seconds"] > 0 for e in evaluated)
    decided = [e for e in events if e["event"] == "decided"]
    assert all(e["outcome"].startswith(("merged", "closed")) for e in decided)
    assert [e["generation"] for e in events if e["event"] == "summary"] == [0, 1]


def test_every_exit_code_is_listed_in_the_help_and_the_readme() -> None:
    import bot.artifacts
    import bot.operators.llm  # noqa: F401  (their errors are AugnesErrors too)
    from bot.errors import EXIT_CODES, AugnesError

    def below(cls: type[AugnesError]) -> list[type[AugnesError]]:
        return [cls, *(c for sub in cls.__subclasses__() for c in below(sub))]

    used = {cls.exit_code for cls in below(AugnesError)}
    assert used <= set(EXIT_CODES) and bot.artifacts.ArtifactError.exit_code in used
    assert EXIT_UNEXPECTED in EXIT_CODES
    shown = CliRunner().invoke(cli, ["--help"]).output
    readme = (ROOT / "README.md").read_text()
    for code, meaning in EXIT_CODES.items():
        assert f"{code:>2}  {meaning}" in shown
        assert f"| {code} | {meaning} |" in readme
