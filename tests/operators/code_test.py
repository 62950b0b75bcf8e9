"""Code operators on real source: each edit is small, valid and local; the guard refuses what
may not be evaluated; near-duplicates look alike to the novelty check."""

from __future__ import annotations

import ast
import difflib
import random

import pytest

from bot.candidates import novelty_key
from bot.operators.code import (
    CODE_OPERATORS,
    DEFAULT_IMPORTS,
    InvalidSource,
    check_source,
    defines,
    mutate,
    normalised,
)
from tests.conftest import ROOT

SOURCE = '''"""A policy."""

import numpy as np


def act(p: dict, obs: np.ndarray) -> np.ndarray:
    # position and velocity
    x, v = obs[:, 0], obs[:, 1]
    push = p["k"] * x + 0.5 * v
    if push > 0 and v < 1.0:
        push = push - 1
    total = push * 2
    return np.where(total > 0, 2, 0)
'''


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


@pytest.mark.parametrize("name", sorted(CODE_OPERATORS))
def test_each_operator_makes_a_small_valid_edit(name: str) -> None:
    made = 0
    for seed in range(30):
        edit = mutate(
            name,
            SOURCE,
            rng=random.Random(seed),
            sigma=0.05,
            allowed_imports=DEFAULT_IMPORTS,
            max_bytes=10_000,
        )
        if edit is None:
            continue
        made += 1
        assert edit.text != SOURCE and edit.summary
        check_source(edit.text, allowed_imports=DEFAULT_IMPORTS, max_bytes=10_000)
        diff = changed_lines(SOURCE, edit.text)
        assert 1 <= len(diff) <= 4, diff  # one line changed, added, removed, or two swapped
        assert '"""A policy."""' in edit.text and "# position and velocity" in edit.text
    assert made >= 20


def test_edits_on_the_shipped_strategies_compile() -> None:
    for strategy in ("heuristic", "linear", "mlp", "mpc"):
        text = (ROOT / "strategies" / strategy / "policy.py").read_text()
        for name in CODE_OPERATORS:
            for seed in range(10):
                try:
                    mutate(
                        name,
                        text,
                        rng=random.Random(seed),
                        sigma=0.05,
                        allowed_imports=DEFAULT_IMPORTS,
                        max_bytes=65_536,
                    )
                except InvalidSource as exc:  # pragma: no cover - shown if it happens
                    pytest.fail(f"{strategy} {name} seed {seed}: {exc}")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("def f(:\n    pass\n", "does not compile"),
        ("import os\n", "imports os"),
        ("from subprocess import run\n", "imports subprocess"),
        ("from . import sibling\n", "relative import"),
        ("x = eval('1')\n", "uses eval"),
        ("f = open('/etc/passwd')\n", "uses open"),
        ("x = ().__class__.__bases__\n", "reaches for __"),
        ("x = 1\n" * 400, "more than the 1000 allowed"),
    ],
)
def test_the_guard_refuses(text: str, why: str) -> None:
    with pytest.raises(InvalidSource, match=why):
        check_source(text, allowed_imports=DEFAULT_IMPORTS, max_bytes=1000)


def test_an_edit_that_breaks_the_guard_is_refused_not_returned() -> None:
    # the parent itself imports numpy: under an allow-list without it every edit is invalid
    with pytest.raises(InvalidSource, match="imports numpy"):
        mutate(
            "code-constant",
            SOURCE,
            rng=random.Random(1),
            sigma=0.05,
            allowed_imports=("__future__",),
            max_bytes=10_000,
        )


def test_formatting_comments_and_docstrings_do_not_make_a_variant_new() -> None:
    reformatted = (
        SOURCE.replace("# position and velocity", "")
        .replace('"""A policy."""', '"""Another docstring."""')
        .replace("0.5 * v", "0.5*v")
    )
    assert normalised(reformatted) == normalised(SOURCE)
    assert normalised(SOURCE.replace("0.5 * v", "0.6 * v")) != normalised(SOURCE)


def test_parameters_that_differ_below_the_precision_are_near_duplicates() -> None:
    def key(k: float, digits: int = 3) -> str:
        files = {"params.json": f'{{"k": {k}, "n": 3}}'.encode(), "policy.py": SOURCE.encode()}
        return novelty_key(files, digits=digits, params_file="params.json")

    assert key(5.0) == key(5.0012) and key(5.0) != key(5.02)
    assert key(5.0, digits=6) != key(5.0012, digits=6)


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("def make_policy(params):\n    pass\n", True),
        ("class make_policy:\n    pass\n", True),
        ("make_policy = lambda params: None\n", True),
        ("from numpy import make_policy\n", True),
        ("import numpy as make_policy\n", True),
        ("if True:\n    make_policy = None\n", True),
        ("try:\n    pass\nexcept ImportError:\n    def make_policy(p):\n        pass\n", True),
        ("def policy(params):\n    make_policy = 1\n", False),
        ("x = make_policy\n", False),
    ],
)
def test_defines_finds_a_top_level_name_only(source: str, found: bool) -> None:
    assert defines(ast.parse(source), "make_policy") is found
