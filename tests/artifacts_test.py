"""The evaluation artifact: what an untrusted job may hand to the trusted one, and what is
refused (with the reason) however it is dressed up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.artifacts import ArtifactError, read_artifact, read_evaluation, write_artifact
from bot.evaluator import EnvPool, Session
from bot.goals import load_suite
from bot.sandbox.subprocess_backend import SubprocessSandbox
from tests.conftest import ROOT

SHA = "a" * 40
HARNESS = "b" * 40


@pytest.fixture(scope="module")
def suite():  # type: ignore[no-untyped-def]
    return load_suite(ROOT / "benchmarks", "control")


@pytest.fixture(scope="module")
def written(suite, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    """A real evaluation of the heuristic seed (two episodes per goal), as an artifact."""
    box, pool = SubprocessSandbox(preload=("numpy",)), EnvPool()
    try:
        with Session(
            box, ROOT / "strategies" / "heuristic", pool, reply_timeout=30, start_timeout=60
        ) as s:
            episodes = s.run([(g, suite.seeds(g)[:2], 0) for g in suite.goals])
            heldout = s.run([(g, suite.heldout_seeds(g)[:2], 0) for g in suite.goals])
    finally:
        box.close()
        pool.close()
    path = tmp_path_factory.mktemp("artifact") / "evaluation.json"
    write_artifact(
        path,
        candidate="c-1234567",
        commit=SHA,
        harness=HARNESS,
        suite="control",
        episodes=episodes,
        early_stopped=False,
        seconds=1.5,
        heldout=heldout,
    )
    return path


def read(path: Path, suite, **overrides: str):  # type: ignore[no-untyped-def]
    expected = {"candidate": "c-1234567", "commit": SHA, "harness": HARNESS, **overrides}
    return read_artifact(path, suite=suite, **expected)


def test_a_real_evaluation_round_trips(written: Path, suite) -> None:  # type: ignore[no-untyped-def]
    episodes = read(written, suite)
    assert len(episodes) == 2 * len(suite.goals)
    assert {e.goal_id for e in episodes} == {g.goal_id for g in suite.goals}


def tampered(written: Path, tmp_path: Path, change: Any) -> Path:
    data = json.loads(written.read_text())
    change(data)
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def _set(key: str, value: Any):  # type: ignore[no-untyped-def]
    return lambda d: d.__setitem__(key, value)


def _episode(key: str, value: Any):  # type: ignore[no-untyped-def]
    return lambda d: d["episodes"][0].__setitem__(key, value)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (_set("candidate", "c-7654321"), "was dispatched"),
        (_set("commit", "c" * 40), "was dispatched"),
        (_set("harness", "d" * 40), "was dispatched"),
        (_set("format", "augnes-evaluation/2"), "format"),
        (_set("extra", 1), "Extra inputs are not permitted"),
        (_episode("reward", 1e300), "outside what"),
        (_episode("reward", "500"), "reward"),
        (_episode("seed", 1), "is not"),
        (_episode("episode", 9999), "is not"),
        (_episode("goal", "../../etc"), "not in the suite"),
        (_episode("failure", "a new kind"), "failure"),
        (_episode("steps", 10**9), "steps"),
        (_episode("__class__", "x"), "Extra inputs"),
        (lambda d: d["episodes"].append(dict(d["episodes"][0])), "appears twice"),
    ],
)
def test_a_tampered_artifact_is_refused_with_the_reason(
    written: Path,
    suite,
    tmp_path: Path,
    change: Any,
    why: str,  # type: ignore[no-untyped-def]
) -> None:
    with pytest.raises(ArtifactError, match=why):
        read(tampered(written, tmp_path, change), suite)


@pytest.mark.parametrize(
    "text",
    [
        '{"reward": NaN}',
        '{"reward": Infinity}',
        "[" * 100_000 + "]" * 100_000,
        "not json",
    ],
)
def test_what_is_not_plain_json_is_refused(text: str, suite, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "evaluation.json"
    path.write_text(text)
    with pytest.raises(ArtifactError, match="not a valid evaluation artifact"):
        read(path, suite)


def test_an_oversized_artifact_is_refused_unread(suite, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "evaluation.json"
    path.write_bytes(b" " * (5 << 20))
    with pytest.raises(ArtifactError, match="more than the"):
        read(path, suite)


def test_held_out_episodes_travel_apart_and_are_checked_against_the_held_out_seeds(
    written: Path,
    suite,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    claim = {"candidate": "c-1234567", "commit": SHA, "harness": HARNESS}
    _, heldout = read_evaluation(written, suite=suite, **claim)
    assert [(e.goal_id, e.seed) for e in heldout] == [
        (g.goal_id, s) for g in suite.goals for s in suite.heldout_seeds(g)[:2]
    ]
    assert {e.seed for e in heldout}.isdisjoint({e.seed for e in read(written, suite)})

    def swapped(d: dict[str, Any]) -> None:  # selection episodes passed off as held-out ones
        d["heldout"] = d["episodes"]

    with pytest.raises(ArtifactError, match=r"heldout\[0\]: seed .* is not"):
        read_evaluation(tampered(written, tmp_path, swapped), suite=suite, **claim)
    # an artifact from a job that ran without them: no held-out episodes, and no error
    older = tampered(written, tmp_path, lambda d: d.pop("heldout"))
    assert read_evaluation(older, suite=suite, **claim)[1] == []
    assert read(older, suite) == read(written, suite)
