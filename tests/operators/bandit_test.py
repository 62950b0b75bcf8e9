"""The bandit over operators: shares follow the record of improving children, with a floor."""

from __future__ import annotations

import random
from collections import Counter

from bot.operators.bandit import Record, choose, shares
from bot.planner import wasted_attempts
from bot.records import LLMUsage


def test_shares_follow_success_and_keep_a_floor() -> None:
    names = ["perturb", "crossover", "code-delete"]
    fresh = shares(names, {}, floor=0.05)
    assert fresh == {n: 1 / 3 for n in names}  # nothing known: equal shares
    records = {
        "perturb": Record(evaluated=40, improved=12),
        "crossover": Record(evaluated=10, improved=1),
        "code-delete": Record(evaluated=200, improved=0),
    }
    share = shares(names, records, floor=0.05)
    assert abs(sum(share.values()) - 1) < 1e-9
    assert share["perturb"] > share["crossover"] > share["code-delete"]
    assert share["code-delete"] == 0.05  # never starved
    better = shares(names, {**records, "crossover": Record(10, 8)}, floor=0.05)
    assert better["crossover"] > share["crossover"]


def test_choices_follow_the_shares() -> None:
    share = {"a": 0.7, "b": 0.2, "c": 0.1}
    rng = random.Random(0)
    counts = Counter(choose(share, rng) for _ in range(5000))
    assert 0.66 < counts["a"] / 5000 < 0.74 and 0.07 < counts["c"] / 5000 < 0.13
    assert [choose(share, random.Random(9)) for _ in range(3)] == [
        choose(share, random.Random(9)) for _ in range(3)
    ]


def test_a_language_model_attempt_costs_every_call_that_gave_no_child() -> None:
    used = LLMUsage(calls=7, usable=1)
    assert wasted_attempts({"llm": 3, "perturb": 2}, used) == {"llm": 6, "perturb": 2}
    assert wasted_attempts({"perturb": 2}, None) == {"perturb": 2}
    assert wasted_attempts({"llm": 3}, LLMUsage()) == {"llm": 3}
    # three refused attempts of two calls each weigh twice three single refusals
    records = {
        "llm": Record(evaluated=4, improved=1, wasted=6),
        "code-constant": Record(evaluated=4, improved=1, wasted=3),
    }
    share = shares(["llm", "code-constant"], records, floor=0.05)
    assert share["llm"] < share["code-constant"]
