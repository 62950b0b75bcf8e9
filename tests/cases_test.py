"""Goals of kind `cases`: the strategy's policy is called once per input inside the sandbox
and the trusted side compares — exactly, within a tolerance, or with a checker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.errors import GoalError
from bot.evaluator import strategy_session
from bot.goals import load_suite
from bot.loop import Loop
from bot.sandbox import open_sandbox
from bot.workspace import Workspace
from tests.conftest import git

CASES = {
    "double.jsonl": [{"input": n, "expected": 2 * n} for n in range(10)],
    "root.jsonl": [{"input": n, "expected": n**0.5} for n in range(10)],
    "sort.jsonl": [{"input": [3, 1, 2], "expected": None}, {"input": [5, 4], "expected": None}],
}
GOALS = {
    "double": 'kind = "cases"\ncases = "double.jsonl"\nepisodes = 2\n',
    "root": 'kind = "cases"\ncases = "root.jsonl"\ncompare = "tolerance"\ntolerance = 1e-3\n'
    "episodes = 1\n",
    "sort": 'kind = "cases"\ncases = "sort.jsonl"\ncompare = "checker"\n'
    'checker = "checks.py:is_sorted_permutation"\nepisodes = 1\n',
}
POLICIES = {
    # right on everything
    "good": "def make_policy(params, spec):\n"
    "    goal = spec['goal_id']\n"
    "    if goal == 'double':\n        return lambda n: 2 * n\n"
    "    if goal == 'root':\n        return lambda n: n ** 0.5 + 1e-5\n"
    "    return sorted\n",
    # wrong on odd inputs, raises on 7, returns the input unsorted
    "rough": "def make_policy(params, spec):\n"
    "    def double(n):\n"
    "        if n == 7:\n            raise ValueError('seven')\n"
    "        return 2 * n if n % 2 == 0 else n\n"
    "    if spec['goal_id'] == 'double':\n        return double\n"
    "    if spec['goal_id'] == 'root':\n        return lambda n: round(n ** 0.5, 1)\n"
    "    return lambda xs: xs\n",
}


def make_suite(repo: Path) -> None:
    folder = repo / "benchmarks" / "checks"
    (folder / "goals").mkdir(parents=True)
    (folder / "suite.toml").write_text('name = "checks"\n')
    for name, rows in CASES.items():
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    for goal, body in GOALS.items():
        (folder / "goals" / f"{goal}.toml").write_text(
            f'goal_id = "{goal}"\nmin_reward = 0.0\noptimal_reward = 1.0\n{body}'
        )
    (folder / "checks.py").write_text(
        "def is_sorted_permutation(given, expected, output):\n"
        "    return isinstance(output, list) and output == sorted(given)\n"
    )
    for name, source in POLICIES.items():
        strategy = repo / "strategies" / name
        strategy.mkdir()
        (strategy / "strategy.toml").write_text(
            f'name = "{name}"\nfamily = "{name}"\nentry = "policy.py:make_policy"\n'
            'suites = ["checks"]\n'
        )
        (strategy / "params.json").write_text("{}\n")
        (strategy / "policy.py").write_text(source)
    text = (repo / "pyproject.toml").read_text().replace('suite = "control"', 'suite = "checks"')
    (repo / "pyproject.toml").write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a cases suite")


def run(repo: Path, strategy: str) -> dict[tuple[str, int], tuple[float, str | None, int]]:
    ws = Workspace.open(repo)
    sandbox = open_sandbox(ws.config.evaluation)
    try:
        with strategy_session(ws, sandbox, ws.main_sha(), strategy) as session:
            episodes = session.run([(g, ws.suite.seeds(g), 0) for g in ws.suite.goals])
    finally:
        sandbox.close()
    return {(e.goal_id, e.episode): (e.reward, e.failure, e.steps) for e in episodes}


def test_outputs_are_compared_by_the_trusted_side(seeded_repo: Path) -> None:
    make_suite(seeded_repo)
    good = run(seeded_repo, "good")
    assert good == {
        ("double", 0): (1.0, None, 5),  # two folds: even-indexed cases, then odd
        ("double", 1): (1.0, None, 5),
        ("root", 0): (1.0, None, 10),  # within the tolerance
        ("sort", 0): (1.0, None, 2),  # the checker
    }
    rough = run(seeded_repo, "rough")
    # fold 0 holds inputs 0,2,4,6,8 (all right); fold 1 holds 1,3,5,7,9: wrong, and 7 raises —
    # a case that raises is that case's failure, not the episode's
    assert rough[("double", 0)] == (1.0, None, 5)
    assert rough[("double", 1)] == (0.0, None, 5)
    assert rough[("root", 0)][0] == pytest.approx(0.4)  # 0, 1, 4 and 9: square roots exact
    assert rough[("sort", 0)] == (0.0, None, 2)


def test_a_cases_goal_needs_its_file_and_a_valid_checker(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    (folder / "goals").mkdir(parents=True)
    (folder / "suite.toml").write_text('name = "s"\n')
    (folder / "goals" / "a.toml").write_text(
        'goal_id = "a"\nkind = "cases"\nmin_reward = 0\noptimal_reward = 1\n'
        'compare = "checker"\ncases = "a.jsonl"\nchecker = "not a spec"\n'
    )
    (folder / "goals" / "b.toml").write_text(
        'goal_id = "b"\nkind = "cases"\nmin_reward = 0\noptimal_reward = 1\ncases = "b.jsonl"\n'
    )
    with pytest.raises(GoalError, match="checker"):
        load_suite(tmp_path, "s")


def test_the_loop_runs_on_a_cases_suite(seeded_repo: Path) -> None:
    make_suite(seeded_repo)
    Loop(Workspace.open(seeded_repo)).run(generations=0, until=0, mutations=1)
    stats = json.loads(git(seeded_repo, "show", "main:lineage/strategy_stats.json"))
    scores = {
        stats["variants"][c]["strategy"]: stats["variants"][c] for c in stats["elites"].values()
    }
    assert scores["good"]["benchmark_score"] == pytest.approx(1.0)
    assert scores["rough"]["benchmark_score"] < scores["good"]["benchmark_score"]
    assert scores["good"]["goals"]["double"]["avg_regret"] == pytest.approx(0.0)


def test_a_pytest_goal_reads_the_verdict_from_the_junit_report(seeded_repo: Path) -> None:
    make_suite(seeded_repo)
    folder = seeded_repo / "benchmarks" / "checks"
    (folder / "unit").mkdir()
    (folder / "unit" / "test_double.py").write_text(
        "from policy import make_policy\n\n"
        "double = make_policy({}, {'goal_id': 'double'})\n\n\n"
        "def test_three():\n    assert double(3) == 6\n\n\n"
        "def test_zero():\n    assert double(0) == 0\n\n\n"
        "def test_seven():\n    assert double(7) == 14\n"
    )
    (folder / "goals" / "unit.toml").write_text(
        'goal_id = "unit"\nkind = "pytest"\ntests = "unit"\nmin_reward = 0.0\n'
        "optimal_reward = 1.0\nepisodes = 1\n"
    )
    git(seeded_repo, "add", "-A")
    git(seeded_repo, "commit", "-qm", "unit tests")
    assert run(seeded_repo, "good")[("unit", 0)] == (1.0, None, 3)
    reward, failure, steps = run(seeded_repo, "rough")[("unit", 0)]
    assert failure is None and steps == 3 and reward == pytest.approx(1 / 3)
