"""Operators in the loop: every child comes from a bandit-chosen operator, and what each
operator made, discarded (invalid, duplicate, cached), evaluated, improved and merged is
counted in strategy_stats.json and shown by `augnes stats --operators`."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from bot.config import OPERATOR_NAMES
from bot.loop import Loop
from bot.workspace import Workspace
from tests.conftest import commit_file, git


def configure(repo: Path, extra: str) -> None:
    text = (repo / "pyproject.toml").read_text()
    commit_file(repo, "pyproject.toml", text + "\n[tool.augnes.variation]\n" + extra)


def run(repo: Path, generations: int, mutations: int = 4) -> None:
    Loop(Workspace.open(repo)).run(generations=generations, until=None, mutations=mutations)


def lineage(repo: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(git(repo, "show", "main:lineage/strategy_stats.json"))


def test_every_operator_is_counted_and_the_bandit_shares_children(seeded_repo: Path) -> None:
    names = ", ".join(f'"{n}"' for n in OPERATOR_NAMES)
    # one design point per family, so that the bandit's operators get children too
    configure(seeded_repo, f"operators = [{names}]\ndesign_points = 1\n")
    run(seeded_repo, generations=3)
    stats = lineage(seeded_repo)
    ops = stats["operators"]
    assert set(ops) <= set(OPERATOR_NAMES) and len(ops) >= 4
    for name, r in ops.items():
        assert r["made"] == r["invalid"] + r["duplicate"] + r["cached"] + r["planned"], name
        assert r["attempts"] >= r["made"]
        children = [v for v in stats["variants"].values() if v["operator"] == name]
        assert r["evaluated"] == len(children) == r["planned"], name
        assert r["improved"] <= r["evaluated"] and r["merged"] <= r["evaluated"]
    assert abs(sum(r["share"] for r in ops.values()) - 1) < 0.01
    code_children = [v for v in stats["variants"].values() if v["operator"].startswith("code-")]
    assert code_children  # source edits were evaluated like any child
    for v in code_children[:3]:
        diff = git(
            seeded_repo,
            "diff",
            "--stat",
            f"refs/augnes/archive/{v['parents'][0]}",
            f"refs/augnes/archive/{v['candidate_id']}",
            "--",
            f"strategies/{v['strategy']}",
        )
        assert "policy.py" in diff
    result = CliRunner().invoke(cli, ["-C", str(seeded_repo), "stats", "--operators"])
    assert result.exit_code == 0 and "improved" in result.output and "share" in result.output


def test_invalid_code_children_are_discarded_before_evaluation(seeded_repo: Path) -> None:
    # the shipped strategies import numpy: with an allow-list without it, every code edit
    # is refused by the guard and counted; parameter children go on as before
    configure(
        seeded_repo,
        'operators = ["perturb", "code-constant", "code-delete"]\nallowed_imports = ["__future__"]\n',
    )
    run(seeded_repo, generations=2)
    ops = lineage(seeded_repo)["operators"]
    for name in ("code-constant", "code-delete"):
        assert ops[name]["invalid"] > 0 and ops[name]["planned"] == ops[name]["evaluated"] == 0
    assert ops["perturb"]["evaluated"] > 0


def test_near_duplicates_are_rejected_before_evaluation(seeded_repo: Path) -> None:
    # parameters compared at one significant digit: most perturbations equal their parent
    configure(seeded_repo, 'operators = ["perturb"]\nnovelty_digits = 1\nsigma = 0.01\n')
    run(seeded_repo, generations=2)
    stats = lineage(seeded_repo)
    perturb = stats["operators"]["perturb"]
    assert perturb["duplicate"] > 0
    novelties = [v["novelty"] for v in stats["variants"].values() if v["novelty"]]
    assert len(novelties) == len(set(novelties))  # no two evaluated variants look alike
