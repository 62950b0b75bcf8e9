"""`augnes evaluate-candidate`: one candidate commit evaluated from the harness checkout,
written as an artifact the trusted side accepts; a candidate reaching outside its strategy
folder is refused before its code runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.artifacts import read_artifact
from bot.cli import cli
from bot.workspace import Workspace
from tests.conftest import commit_file, git


def child(repo: Path, path: str, text: str) -> str:
    git(repo, "checkout", "-q", "-b", "augnes/g001/c-abcdef0")
    sha = commit_file(repo, path, text, "a candidate")
    git(repo, "checkout", "-q", "main")
    return sha


def evaluate(repo: Path, sha: str, out: Path) -> Result:
    args = ["-C", str(repo), "evaluate-candidate", "c-abcdef0", "--commit", sha, "--out", str(out)]
    return CliRunner().invoke(cli, args)


def test_a_candidate_is_evaluated_into_an_artifact(seeded_repo: Path, tmp_path: Path) -> None:
    params = (seeded_repo / "strategies" / "heuristic" / "params.json").read_text()
    sha = child(seeded_repo, "strategies/heuristic/params.json", params.replace("1", "2", 1))
    out = tmp_path / "evaluation.json"
    result = evaluate(seeded_repo, sha, out)
    assert result.exit_code == 0, result.output
    ws = Workspace.open(seeded_repo)
    episodes = read_artifact(
        out, suite=ws.suite, candidate="c-abcdef0", commit=sha, harness=ws.main_sha()
    )
    assert len(episodes) == sum(g.episodes for g in ws.suite.goals)


def test_a_candidate_touching_the_harness_is_refused(seeded_repo: Path, tmp_path: Path) -> None:
    sha = child(seeded_repo, ".github/workflows/evil.yml", "on: push\n")
    out = tmp_path / "evaluation.json"
    result = evaluate(seeded_repo, sha, out)
    assert result.exit_code == 11
    assert "changes files outside strategies/: .github/workflows/evil.yml" in result.output
    assert not out.exists()


def test_a_candidate_changing_two_strategies_is_refused(seeded_repo: Path) -> None:
    from bot.candidates import candidate_strategy
    from bot.errors import CandidateRefused
    from bot.repo import Repo

    git(seeded_repo, "checkout", "-q", "-b", "augnes/g001/c-abcdef0")
    commit_file(seeded_repo, "strategies/heuristic/notes.md", "a\n")
    sha = commit_file(seeded_repo, "strategies/linear/notes.md", "b\n")
    git(seeded_repo, "checkout", "-q", "main")
    with pytest.raises(CandidateRefused, match="changes heuristic, linear"):
        candidate_strategy(Repo(seeded_repo), base="main", commit=sha, strategies_dir="strategies")
