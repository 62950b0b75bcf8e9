"""Bad input, generated (Hypothesis): configuration tables, manifests, params, goal files,
judgments lines and evaluation artifacts, each a real file of the project changed at
random. Every input is accepted, or refused with the bot's own error naming the file (and
the field or line) — never an unexpected error (exit 3) — and nothing on main changes."""

from __future__ import annotations

import json
import math
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.artifacts import read_evaluation, write_artifact
from bot.cli import EXIT_UNEXPECTED, cli
from bot.config import Config, parse_config
from bot.errors import AugnesError, ConfigError, GoalError, ManifestError
from bot.evaluator import Episode
from bot.goals import Goal, load_suite, parse_goal
from bot.lineage_files import extend_jsonl, jsonl_line, parse_jsonl
from bot.manifest import Manifest, parse_manifest, parse_params
from bot.records import Judgment
from tests.conftest import ROOT, git

FAST = settings(derandomize=True, database=None, deadline=None, max_examples=150)
SLOW = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=12,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# ---- values of every kind a file may hold ---------------------------------------------------
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def toml_value(value: Any) -> str:
    """`value` written as TOML (None, which TOML lacks, as an empty inline table)."""
    if value is None:
        return "{}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_text(table: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in table.items())


def paths_of(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into nested dicts (and list items)."""
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for k, v in data.items():
            out += paths_of(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += paths_of(v, (*prefix, i))
    return out


@st.composite
def changed(draw: st.DrawFn, original: dict[str, Any]) -> dict[str, Any]:
    """`original` with a few of its values replaced, removed, or new keys added."""
    data = json.loads(json.dumps(original))
    for _ in range(draw(st.integers(1, 3))):
        paths = paths_of(data)
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        path = draw(st.sampled_from(paths)) if paths else ()
        holder: Any = data
        for key in path[:-1]:
            holder = holder[key]
        if action == "add" or not path:
            target = holder if isinstance(holder, dict) else data
            target[draw(st.text(min_size=1, max_size=8))] = draw(values)
        elif action == "remove" and isinstance(holder, dict):
            holder.pop(path[-1], None)
        else:
            holder[path[-1]] = draw(values)
    return data


def verdict(
    run: Callable[[], object], accepted: type, error: type[AugnesError], source: str
) -> str:
    """ "accepted" when `run` returns an `accepted`, "refused" when it raises `error` whose
    message starts with `source`; anything else fails the test."""
    try:
        value = run()
    except error as exc:
        assert exc.message.startswith(source), exc.message
        assert exc.exit_code != EXIT_UNEXPECTED
        return "refused"
    except Exception as exc:  # the crash these properties hunt: not the bot's own error
        pytest.fail(f"{type(exc).__name__} instead of {error.__name__}: {exc}")
    assert isinstance(value, accepted), value
    return "accepted"


MANIFEST = (ROOT / "strategies" / "linear" / "strategy.toml").read_text()
PARAMS = json.loads((ROOT / "strategies" / "linear" / "params.json").read_text())
GOAL = (ROOT / "benchmarks" / "control" / "goals" / "cartpole.toml").read_text()
CONFIG = {
    "suite": "control",
    "seed": 3,
    "selection": {"min_improvement": 0.005, "formula": "weighted"},
    "parents": {"k": 1.0, "s_mid": "median", "islands": 0},
    "variation": {"operators": ["perturb", "cma"], "sigma": 0.05},
    "evaluation": {"first_stage_episodes": 1, "workers": 1},
}


# ---- each reader on its own --------------------------------------------------------------
@FAST
@given(changed(CONFIG))
def test_a_configuration_table_is_accepted_or_named(data: dict[str, Any]) -> None:
    source = "pyproject.toml [tool.augnes]"
    assert verdict(lambda: parse_config(data, source=source), Config, ConfigError, source)


@FAST
@given(changed(tomllib.loads(MANIFEST)))
def test_a_manifest_is_accepted_or_named(data: dict[str, Any]) -> None:
    source = "strategies/linear/strategy.toml"
    parse = lambda: parse_manifest(toml_text(data), source=source)  # noqa: E731
    assert verdict(parse, Manifest, ManifestError, source)


@FAST
@given(st.text(max_size=200))
def test_any_text_as_a_manifest_is_accepted_or_named(text: str) -> None:
    source = "strategies/x/strategy.toml"
    parse = lambda: parse_manifest(MANIFEST + text, source=source)  # noqa: E731
    assert verdict(parse, Manifest, ManifestError, source)


@FAST
@given(changed(PARAMS))
def test_params_are_accepted_or_named(data: dict[str, Any]) -> None:
    manifest = parse_manifest(MANIFEST, source="m")
    source = "strategies/linear/params.json"
    text = json.dumps(data, allow_nan=True)
    parse = lambda: parse_params(text, manifest, source=source)  # noqa: E731
    assert verdict(parse, dict, ManifestError, source)


@FAST
@given(changed(tomllib.loads(GOAL)))
def test_a_goal_file_is_accepted_or_named(data: dict[str, Any]) -> None:
    source = "benchmarks/control/goals/cartpole.toml"
    parse = lambda: parse_goal(toml_text(data), source=source)  # noqa: E731
    assert verdict(parse, Goal, GoalError, source)


def test_the_verdict_tells_acceptance_refusal_and_crash_apart() -> None:
    source = "pyproject.toml [tool.augnes]"
    good = verdict(lambda: parse_config(CONFIG, source=source), Config, ConfigError, source)
    bad = verdict(lambda: parse_config({"suite": 5}, source=source), Config, ConfigError, source)
    assert (good, bad) == ("accepted", "refused")
    with pytest.raises(pytest.fail.Exception, match="KeyError instead of ConfigError"):
        verdict(lambda: {}["x"], Config, ConfigError, source)
    with pytest.raises(AssertionError):  # refused, but without naming the file
        verdict(lambda: parse_config({"suite": 5}, source="x"), Config, ConfigError, source)


def judgment(n: int) -> Judgment:
    return Judgment.model_validate(
        {
            "ts": "2026-01-01T00:00:00+00:00",
            "run_id": "r",
            "generation": 1,
            "variant": f"c-{n:07x}",
            "mutation_id": f"c-{n:07x}",
            "parent_id": None,
            "strategy": "linear",
            "operator": "perturb",
            "commit": "0" * 40,
            "goal_id": "cartpole",
            "episode": n,
            "seed": n,
            "reward": 1.0,
            "reward_norm": 0.5,
            "regret": 1.0,
            "expected_optimal": 2.0,
            "benchmark_score": 0.5,
            "advantage": 0.0,
            "steps": 1,
            "success": False,
            "failure": None,
            "duration_s": 0.1,
        }
    )


@FAST
@given(st.lists(st.one_of(st.text(max_size=80), st.just(None)), max_size=8), st.booleans())
def test_judgments_lines_never_stop_the_reader_and_appends_lose_nothing(
    lines: list[str | None], torn: bool
) -> None:
    good = [judgment(i) for i in range(3)]
    text = "".join(jsonl_line(good[i % 3]) if x is None else x + "\n" for i, x in enumerate(lines))
    if torn:
        text = text.rstrip("\n")
    records, problems = parse_jsonl(text, Judgment, source="lineage/judgments.jsonl")
    assert all(p.startswith("lineage/judgments.jsonl:") for p in problems)
    new = [judgment(100), judgment(101)]
    after = extend_jsonl(text, new, source="lineage/judgments.jsonl")
    again, _ = parse_jsonl(after.text, Judgment, source="lineage/judgments.jsonl")
    assert again[-2:] == new  # whatever came before, the appended records are whole
    assert after.text.endswith("\n")
    assert len(again) >= len(records)  # nothing that was readable is dropped


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Any]:
    suite = load_suite(ROOT / "benchmarks", "control")
    goal = suite.goal("cartpole")
    path = tmp_path_factory.mktemp("artifact") / "a.json"
    episodes = [
        Episode("cartpole", i, seed, 100.0, 100, None, 0.1)
        for i, seed in enumerate(suite.seeds(goal))
    ]
    write_artifact(
        path,
        candidate="c-0000001",
        commit="1" * 40,
        harness="2" * 40,
        suite="control",
        episodes=episodes,
        early_stopped=False,
        seconds=1.0,
    )
    return json.loads(path.read_text()), suite


@settings(FAST, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_an_evaluation_artifact_is_accepted_or_named(
    data: st.DataObject, artifact: tuple[dict[str, Any], Any], tmp_path: Path
) -> None:
    raw, suite = artifact
    path = tmp_path / "evaluation-c-0000001.json"
    path.write_text(json.dumps(data.draw(changed(raw)), allow_nan=True))
    assert verdict(
        lambda: read_evaluation(
            path, suite=suite, candidate="c-0000001", commit="1" * 40, harness="2" * 40
        ),
        tuple,
        AugnesError,
        path.name,
    )


# ---- through the command line, on a repository -------------------------------------------
KINDS = {
    "pyproject.toml": lambda d: "[tool.augnes]\n" + toml_text(d),
    "strategies/linear/strategy.toml": toml_text,
    "strategies/linear/params.json": lambda d: json.dumps(d, allow_nan=True),
    "benchmarks/control/goals/cartpole.toml": toml_text,
}
ORIGINALS: dict[str, Any] = {
    "pyproject.toml": CONFIG,
    "strategies/linear/strategy.toml": tomllib.loads(MANIFEST),
    "strategies/linear/params.json": PARAMS,
    "benchmarks/control/goals/cartpole.toml": tomllib.loads(GOAL),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_command_on_a_changed_file_never_fails_unexpectedly(
    name: str, _seeded_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    repo = tmp_path_factory.mktemp("props") / "repo"
    shutil.copytree(_seeded_template, repo, symlinks=True)
    first = CliRunner().invoke(cli, ["-C", str(repo), "run", "--until-generation", "0"])
    assert first.exit_code == 0, first.output
    main = git(repo, "rev-parse", "main")
    lineage = git(repo, "rev-parse", "main:lineage")

    @SLOW
    @given(changed(ORIGINALS[name]), st.one_of(st.just(b""), st.binary(min_size=1, max_size=6)))
    def check(data: dict[str, Any], junk: bytes) -> None:
        git(repo, "reset", "-q", "--hard", main)
        (repo / name).write_bytes(KINDS[name](data).encode() + junk)  # junk: maybe not UTF-8
        git(repo, "commit", "-qam", "a person's edit")
        for args in (["status"], ["stats"], ["run", "--until-generation", "0"]):
            result = CliRunner().invoke(cli, ["-C", str(repo), *args])
            assert result.exit_code != EXIT_UNEXPECTED, (args, result.output)
            assert "Traceback" not in result.output
        assert git(repo, "rev-parse", "main:lineage") == lineage  # no record written

    check()
