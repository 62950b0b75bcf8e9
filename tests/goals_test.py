from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.errors import GoalError
from bot.goals import load_suite, parse_goal

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_control_suite() -> None:
    suite = load_suite(ROOT / "benchmarks", "control")
    ids = {g.goal_id: g.env_id for g in suite.goals}
    assert ids == {
        "acrobot": "Acrobot-v1",
        "cartpole": "CartPole-v1",
        "mountaincar": "MountainCar-v0",
        "pendulum": "Pendulum-v1",
    }


def test_seeds_are_fixed_per_goal_and_distinct_across_goals() -> None:
    suite = load_suite(ROOT / "benchmarks", "control")
    a, b = suite.goals[0], suite.goals[1]
    assert suite.seeds(a) == suite.seeds(a)
    assert len(suite.seeds(a)) == a.episodes
    assert not set(suite.seeds(a)) & set(suite.seeds(b))


def test_a_malformed_goal_stops_the_suite_with_every_problem_named(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "benchmarks", tmp_path / "benchmarks")
    goals = tmp_path / "benchmarks" / "control" / "goals"
    bad = goals / "cartpole.toml"
    bad.write_text(bad.read_text().replace("optimal_reward = 500.0", "optimal_reward = -5.0"))
    (goals / "pendulum.toml").write_bytes(b'goal_id = "pendulum"\n# caf\xe9\n')
    with pytest.raises(GoalError) as caught:
        load_suite(tmp_path / "benchmarks", "control")
    said = caught.value.message
    assert f"{bad}: " in said and "optimal_reward" in said  # no goal leaves S quietly
    assert f"{goals / 'pendulum.toml'}:2: not UTF-8 text (byte 0xe9 at column 6)" in said
    assert "fix the goal file(s) of suite control" in said


def test_goal_errors_name_the_field() -> None:
    with pytest.raises(GoalError, match=r"g.toml: `episodes`"):
        parse_goal(
            'goal_id = "g"\nenv_id = "CartPole-v1"\nmin_reward = 0\noptimal_reward = 1\nepisodes = 0\n',
            source="g.toml",
        )
    with pytest.raises(GoalError, match="`min_reward`"):
        parse_goal('goal_id = "g"\nenv_id = "CartPole-v1"\noptimal_reward = 1\n', source="g.toml")


def test_unknown_suite_and_goal(tmp_path: Path) -> None:
    with pytest.raises(GoalError, match="suite.toml: missing"):
        load_suite(tmp_path, "nothing")
    suite = load_suite(ROOT / "benchmarks", "control")
    with pytest.raises(GoalError, match="known goals: "):
        suite.goal("walker")
