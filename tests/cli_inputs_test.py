"""Input a person gets wrong gives a clean error that names the file (and the line or the
setting) and says what to do; never `unexpected error` (exit 3)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cases import load_cases
from bot.cli import cli
from bot.errors import GoalError
from bot.goals import load_suite
from tests.cases_test import make_suite
from tests.conftest import commit_file, git


def invoke(repo: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["-C", str(repo), *args])
    return result.exit_code, result.output


def test_bytes_that_are_not_utf8_in_a_strategy_are_named_with_file_and_line(
    seeded_repo: Path,
) -> None:
    manifest = seeded_repo / "strategies" / "linear" / "strategy.toml"
    manifest.write_bytes(manifest.read_bytes() + b"# na\xefve\n")
    line = manifest.read_bytes().count(b"\n")
    params = seeded_repo / "strategies" / "mlp" / "params.json"
    params.write_bytes(b"\xff" + params.read_bytes())
    git(seeded_repo, "commit", "-qam", "a person saves two files in Latin-1")
    code, output = invoke(seeded_repo, "status")
    assert code == 0, output  # the other strategies are still read
    assert "strategies/linear/strategy.toml at " in output
    assert f":{line}: not UTF-8 text (byte 0xef at column 5); save the file as UTF-8" in output
    assert "strategies/mlp/params.json at " in output
    assert ":1: not UTF-8 text (byte 0xff at column 1)" in output


def test_a_cases_file_that_is_not_utf8_is_named_with_its_line(seeded_repo: Path) -> None:
    make_suite(seeded_repo)
    cases = seeded_repo / "benchmarks" / "checks" / "double.jsonl"
    cases.write_bytes(cases.read_bytes() + b'{"input": "\xe9", "expected": 1}\n')
    suite = load_suite(seeded_repo / "benchmarks", "checks")
    with pytest.raises(GoalError, match=rf"{cases}:11: not UTF-8 text \(byte 0xe9 at column 12\)"):
        load_cases(suite.goal("double"))


def test_a_broken_goal_stops_the_run_instead_of_leaving_the_score(seeded_repo: Path) -> None:
    goal = seeded_repo / "benchmarks" / "control" / "goals" / "cartpole.toml"
    goal.write_text(goal.read_text().replace("optimal_reward = 500.0", "optimal_reward = -5.0"))
    git(seeded_repo, "commit", "-qam", "a typo in a goal")
    code, output = invoke(seeded_repo, "run", "--generations", "1")
    assert code == 2, output
    assert str(goal) in output and "optimal_reward" in output
    assert git(seeded_repo, "log", "--format=%s", "-1") == "a typo in a goal"  # nothing ran


def test_commands_work_from_a_subdirectory_as_git_does(seeded_repo: Path) -> None:
    code, output = invoke(seeded_repo / "strategies" / "linear", "status")
    assert code == 0, output
    assert "No generation has been recorded" in output


def test_a_repository_on_master_is_set_up_for_master(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "master")
    code, output = invoke(repo, "init")
    assert code == 0, output
    assert "base branch: master" in output
    assert 'base_branch = "master"' in (repo / "augnes.toml").read_text()
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "adopt Augnes")
    code, output = invoke(repo, "status")
    assert code == 0, output
    # configured for main by hand: the error names the branch there is and the setting
    (repo / "augnes.toml").write_text(
        (repo / "augnes.toml").read_text().replace('base_branch = "master"\n', "")
    )
    code, output = invoke(repo, "status")
    assert code == 4
    assert "branch `main` does not exist; this repository has master" in output
    assert 'set `base_branch = "master"` under [tool.augnes]' in output


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ("suite = 5", "`suite` must be a suite name (a folder under benchmarks/) or a list of "
         "names (got 5)"),
        ('suite = ["control", 3]', "`suite` must be a suite name"),
        ("[tool.augnes.parents]\ns_mid = \"middle\"", '`parents.s_mid` must be a number or '
         '"median"'),
    ],
)  # fmt: skip
def test_a_setting_of_the_wrong_kind_is_said_in_plain_words(
    git_repo: Path, setting: str, said: str
) -> None:
    commit_file(git_repo, "pyproject.toml", f"[tool.augnes]\n{setting}\n")
    code, output = invoke(git_repo, "status")
    assert code == 2, output
    assert said in output
    assert ".str" not in output and "tuple[" not in output
