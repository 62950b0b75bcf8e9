"""An example strategy for a `cases` goal: a straight line whose slope and intercept Augnes
evolves.

`make_policy` gets the parameters and the goal's description and returns a function that
takes one case's input and returns the output the goal compares with `expected`.
"""

from __future__ import annotations

from collections.abc import Callable


def make_policy(params: dict[str, float], spec: dict[str, object]) -> Callable[[float], float]:
    slope, intercept = float(params["slope"]), float(params["intercept"])
    return lambda x: slope * x + intercept
