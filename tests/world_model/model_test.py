"""The world model on real Gymnasium transitions: it beats the Δs = 0 baseline, its weights
round-trip, and weights that were changed — or that hold anything but tensors — are refused."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest

from bot.workspace import Workspace
from bot.world_model.buffer import load_buffer
from bot.world_model.model import (
    TrainConfig,
    WeightsRefused,
    deserialise,
    predict,
    serialise,
    sha256_of,
    train,
)
from bot.world_model.sampling import transitions_dir
from bot.world_model.store import action_count
from tests.world_model.conftest import TRANSITIONS


def fitted_on(repo: Path, goal: str, hidden: int = 16):  # type: ignore[no-untyped-def]
    ws = Workspace.open(repo)
    buffer = load_buffer(transitions_dir(ws), goal)
    g = ws.suite.goal(goal)
    config = TrainConfig(hidden_dim=hidden, max_epochs=80, patience=8, seed=3)
    return buffer, train(buffer, actions=action_count(g.env_id, g.env_kwargs), config=config)


def test_transitions_come_from_the_trusted_evaluator(sampled_repo: Path) -> None:
    ws = Workspace.open(sampled_repo)
    for goal in ws.suite.goals:
        buffer = load_buffer(transitions_dir(ws), goal.goal_id)
        assert len(buffer) >= TRANSITIONS
        assert buffer.obs.shape == buffer.next_obs.shape and len(buffer.act) == len(buffer)
        assert np.isfinite(buffer.obs).all() and np.isfinite(buffer.next_obs).all()


@pytest.mark.parametrize("goal", ["pendulum", "cartpole"])
def test_the_model_beats_predicting_no_change(sampled_repo: Path, goal: str) -> None:
    _, fitted = fitted_on(sampled_repo, goal)
    stats = fitted.stats
    assert stats["zero_nmse"] > 0.9  # Δs = 0 explains nothing of the change
    assert stats["val_nmse"] < 0.2 * stats["zero_nmse"]
    assert stats["samples"] + stats["validation_samples"] >= TRANSITIONS
    assert 1 <= stats["epochs"] <= 80 and stats["seconds"] > 0


def test_weights_round_trip_and_changed_weights_are_refused(sampled_repo: Path) -> None:
    buffer, fitted = fitted_on(sampled_repo, "pendulum", hidden=8)
    data = serialise(fitted)
    digest = sha256_of(data)
    again = deserialise(data, goal_id="pendulum", sha256=digest, source="test")
    assert again.hidden_dim == 8 and again.actions is None
    sample_obs, sample_act = buffer.obs[:32], buffer.act[:32]
    np.testing.assert_allclose(
        predict(again, sample_obs, sample_act), predict(fitted, sample_obs, sample_act), rtol=1e-6
    )
    tampered = bytearray(data)
    tampered[len(tampered) // 2] ^= 0xFF
    with pytest.raises(WeightsRefused, match="was changed"):
        deserialise(bytes(tampered), goal_id="pendulum", sha256=digest, source="w.pt")


class _Boom:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (print, ("code ran while loading",))


def test_a_file_with_code_in_it_is_refused_even_with_a_matching_hash() -> None:
    import torch

    out = io.BytesIO()
    torch.save({"net.0.weight": torch.zeros(2, 2), "evil": _Boom()}, out, pickle_module=pickle)
    data = out.getvalue()
    with pytest.raises(WeightsRefused, match="not a plain tensor file"):
        deserialise(data, goal_id="x", sha256=sha256_of(data), source="evil.pt")
