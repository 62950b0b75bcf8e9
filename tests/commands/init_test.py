"""`augnes init`: the files it writes are the project's own (no drift), an initialised
repository evolves, and a second init keeps what is there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.commands.init import _files
from tests.conftest import ROOT, git

OWN = {
    ".github/workflows/evolve.yml",
    ".github/workflows/evaluate.yml",
    ".github/workflows/select.yml",
    "benchmarks/sandbox/Dockerfile",
    "benchmarks/control/suite.toml",
    "benchmarks/control/goals/cartpole.toml",
}


def test_the_templates_are_the_projects_own_files() -> None:
    files = _files()
    for path in OWN:
        assert files[path] == (ROOT / path).read_bytes(), f"{path}: the template drifted"
    assert "strategies/balance/policy.py" in files


@pytest.mark.slow
def test_an_initialised_repository_evolves(tmp_path: Path) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "pyproject.toml").write_text('[project]\nname = "mine"\nversion = "0"\n')
    runner = CliRunner()
    result = runner.invoke(cli, ["-C", str(repo), "init"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "wrote .github/workflows/evolve.yml" in result.output
    assert "Workflow permissions" in result.output
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "augnes init")
    done = runner.invoke(cli, ["-C", str(repo), "run"], catch_exceptions=False)  # defaults
    assert done.exit_code == 0, done.output
    assert "augnes(g001): selection" in done.output
    # the example has room to improve: the first run shows a merge, not only closures
    assert "merged: S " in done.output, done.output
    again = runner.invoke(cli, ["-C", str(repo), "init"], catch_exceptions=False)
    assert "wrote" not in again.output and "kept  strategies/balance/policy.py" in again.output


@pytest.mark.slow
def test_the_cases_template_fits_its_line_in_a_few_generations(tmp_path: Path) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    runner = CliRunner()
    result = runner.invoke(cli, ["-C", str(repo), "init", "--template", "cases"])
    assert result.exit_code == 0, result.output
    assert "wrote strategies/fit/policy.py" in result.output
    assert 'suite = "fit"' in (repo / "augnes.toml").read_text()
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "augnes init --template cases")
    done = runner.invoke(cli, ["-C", str(repo), "run", "-g", "6", "-m", "4"])
    assert done.exit_code == 0, done.output
    stats = json.loads(git(repo, "show", "main:lineage/strategy_stats.json"))
    first, last = stats["generations"][0], stats["generations"][-1]
    assert last["best_benchmark_score"] > first["best_benchmark_score"] + 0.3, done.output
