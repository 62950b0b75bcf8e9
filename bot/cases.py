"""Test-case goals: inputs and expected outputs stored as data beside the suite, compared by
the trusted side (exactly, within a tolerance, or by a checker function in the suite
folder — trusted code, reviewed on the base branch like the suite itself)."""

from __future__ import annotations

import functools
import importlib.util
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import GoalError, read_text
from bot.goals import Goal


@dataclass(frozen=True)
class Case:
    input: Any
    expected: Any


@functools.lru_cache(maxsize=32)
def _load(path: str, mtime: float) -> tuple[Case, ...]:
    out = []
    for n, line in enumerate(read_text(Path(path), error=GoalError).splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            out.append(Case(data["input"], data["expected"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise GoalError(
                f"{path}:{n}: a case is one JSON object with `input` and `expected` ({exc})"
            ) from None
    if not out:
        raise GoalError(f"{path}: no case in it")
    return tuple(out)


def load_cases(goal: Goal) -> tuple[Case, ...]:
    path = Path(goal.source) / goal.cases
    if not path.is_file():
        raise GoalError(f"{path}: missing; goal {goal.goal_id} names it in `cases`")
    return _load(str(path), path.stat().st_mtime)


def fold(cases: tuple[Case, ...], episode: int, folds: int) -> list[Case]:
    """Episode `episode`'s cases: every `folds`-th case from its own start."""
    return list(cases[episode % folds :: folds])


@functools.lru_cache(maxsize=16)
def _checker(source: str, spec: str) -> Callable[[Any, Any, Any], bool]:
    file_name, name = spec.split(":")
    path = Path(source) / file_name
    loaded = importlib.util.spec_from_file_location(f"augnes_checker_{path.stem}", path)
    if loaded is None or loaded.loader is None or not path.is_file():
        raise GoalError(f"{path}: the checker file is missing")
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    found = getattr(module, name, None)
    if not callable(found):
        raise GoalError(f"{path}: no function {name}")
    return found  # type: ignore[no-any-return]


def passes(goal: Goal, case: Case, output: Any) -> bool:
    if goal.compare == "checker":
        try:
            return bool(_checker(goal.source, goal.checker)(case.input, case.expected, output))
        except GoalError:
            raise
        except Exception:  # noqa: BLE001 - a checker that trips on a strange output: a fail
            return False
    if goal.compare == "tolerance":
        return _close(case.expected, output, goal.tolerance)
    return bool(case.expected == output)


def _close(expected: Any, output: Any, tolerance: float) -> bool:
    if isinstance(expected, bool) or isinstance(output, bool):
        return bool(expected == output)
    if isinstance(expected, (int, float)) and isinstance(output, (int, float)):
        return math.isfinite(output) and abs(expected - output) <= tolerance
    if isinstance(expected, list) and isinstance(output, list):
        return len(expected) == len(output) and all(
            _close(a, b, tolerance) for a, b in zip(expected, output, strict=True)
        )
    if isinstance(expected, dict) and isinstance(output, dict):
        return expected.keys() == output.keys() and all(
            _close(expected[k], output[k], tolerance) for k in expected
        )
    return bool(expected == output)
