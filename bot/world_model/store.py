"""World models on the base branch: `lineage/world_model_stats.json` (per goal and capacity:
error, baselines, cost, and the SHA-256 of the weights) and `lineage/world_models/*.pt`.

The models are trained only here, in the trusted process, from transitions the trusted
evaluator recorded; a model is loaded only from the base branch's lineage, and only when its
bytes hash to what the stats file there records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import gymnasium
from pydantic import BaseModel, ConfigDict

from bot.errors import LineageFileError
from bot.lineage_files import dump_json, load_json, locked
from bot.workspace import Workspace
from bot.world_model.buffer import load_buffer
from bot.world_model.model import Fitted, TrainConfig, deserialise, serialise, sha256_of, train
from bot.world_model.sampling import transitions_dir

log = logging.getLogger(__name__)
STATS = "world_model_stats.json"


class ModelRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    goal_id: str
    hidden_dim: int
    layers: int
    actions: int | None
    buffer_size: int
    samples: int
    validation_samples: int
    epochs: int
    train_mse: float
    train_nmse: float
    val_mse: float
    val_nmse: float
    zero_mse: float
    zero_nmse: float
    linear_mse: float
    linear_nmse: float
    seconds: float
    weights: str  # its path in the repository
    sha256: str
    generation: int
    trained_at: str


class WorldModelStatsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    generation: int
    hidden_dim: int  # the configured capacity: `goals` shows its models
    goals: dict[str, ModelRecord]
    models: dict[str, ModelRecord]  # "<goal>/h<hidden_dim>": every model kept


def model_key(goal_id: str, hidden_dim: int) -> str:
    return f"{goal_id}/h{hidden_dim}"


def weights_path(ws: Workspace, goal_id: str, hidden_dim: int) -> str:
    return ws.lineage(f"world_models/{goal_id}-h{hidden_dim}.pt")


def committed_stats(ws: Workspace, commit: str) -> WorldModelStatsFile | None:
    raw = ws.repo.read_file(commit, ws.lineage(STATS))
    if raw is None:
        return None
    return load_json(raw, WorldModelStatsFile, source=f"{commit[:10]}:{ws.lineage(STATS)}")


def action_count(env_id: str, env_kwargs: Mapping[str, Any]) -> int | None:
    env = gymnasium.make(env_id, **dict(env_kwargs))
    try:
        n = getattr(env.action_space, "n", None)
        return int(n) if n is not None else None
    finally:
        env.close()


def train_config(ws: Workspace, hidden_dim: int) -> TrainConfig:
    wm = ws.config.world_model
    return TrainConfig(
        hidden_dim=hidden_dim,
        layers=wm.layers,
        val_fraction=wm.val_fraction,
        max_epochs=wm.max_epochs,
        patience=wm.patience,
        seed=ws.config.seed,
    )


def train_goal(
    ws: Workspace, goal_id: str, hidden_dim: int, *, generation: int, buffer_size: int | None = None
) -> tuple[ModelRecord, bytes, Fitted]:
    """Train one goal's model of `hidden_dim` on its buffer, or on `buffer_size` rows of it."""
    goal = ws.suite.goal(goal_id)
    buffer = load_buffer(transitions_dir(ws), goal_id)
    if buffer_size is not None:
        if len(buffer) < buffer_size:
            raise LineageFileError(
                f"{goal_id}: {len(buffer)} transitions, fewer than the {buffer_size} asked for; "
                f"`augnes world-model sample --transitions {buffer_size}` collects more"
            )
        buffer = buffer.subset(buffer_size, seed=ws.config.seed)
    fitted = train(
        buffer,
        actions=action_count(goal.env_id, goal.env_kwargs),
        config=train_config(ws, hidden_dim),
    )
    data = serialise(fitted)
    record = ModelRecord(
        goal_id=goal_id,
        actions=fitted.actions,
        weights=weights_path(ws, goal_id, hidden_dim),
        sha256=sha256_of(data),
        generation=generation,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        **fitted.stats,
    )
    fitted.stats = record.model_dump()
    return record, data, fitted


def merged(
    prior: WorldModelStatsFile | None,
    records: Iterable[ModelRecord],
    *,
    hidden_dim: int,
    generation: int,
) -> WorldModelStatsFile:
    models = dict(prior.models) if prior else {}
    for r in records:
        models[model_key(r.goal_id, r.hidden_dim)] = r
    goals = {r.goal_id: r for r in models.values() if r.hidden_dim == hidden_dim}
    return WorldModelStatsFile(
        generation=generation,
        hidden_dim=hidden_dim,
        goals=dict(sorted(goals.items())),
        models=dict(sorted(models.items())),
    )


def lineage_files(
    ws: Workspace,
    prior: WorldModelStatsFile | None,
    trained: Iterable[tuple[ModelRecord, bytes]],
    *,
    generation: int,
) -> dict[str, bytes]:
    """The files to commit: every new weights file and the stats file that vouches for it."""
    trained = list(trained)
    stats = merged(
        prior,
        (r for r, _ in trained),
        hidden_dim=ws.config.world_model.hidden_dim,
        generation=generation,
    )
    files = {r.weights: data for r, data in trained}
    files[ws.lineage(STATS)] = dump_json(stats)
    return files


def commit_lineage(
    ws: Workspace, files: Mapping[str, bytes], *, subject: str, body: str, lock: bool = True
) -> str:
    """Commit `files` on the base branch (the writer lock held, so never beside a running
    generation; `lock=False` when the caller holds it), carry a checked-out work tree along
    and publish the branch."""
    with locked(ws.repo.state_dir / "writer.lock", wait=False) if lock else nullcontext():
        main = ws.main_sha()
        tree = ws.repo.write_files(main, files)
        sha = ws.repo.commit_tree(tree, parents=[main], message=f"{subject}\n\n{body}\n")
        ws.repo.update_ref(f"refs/heads/{ws.base}", sha, old=main, reason=subject)
        ws.repo.follow(ws.base, main, sha)
        ws.forge.publish(ws.repo.root, [f"refs/heads/{ws.base}"])
        return sha


class ModelStore:
    """The models a generation's evaluations hand to model-based strategies: from the base
    branch's lineage (hash-checked), else — when transitions are at hand and `train_missing`
    — trained now and kept in `fresh` for the next lineage commit."""

    def __init__(self, ws: Workspace, commit: str, *, train_missing: bool, generation: int) -> None:
        self.ws = ws
        self.commit = commit
        self.train_missing = train_missing
        self.generation = generation
        self.stats = committed_stats(ws, commit)
        self._cache: dict[str, Fitted | None] = {}
        self.fresh: dict[str, tuple[ModelRecord, bytes]] = {}

    def get(self, goal_id: str, hidden_dim: int) -> Fitted | None:
        key = model_key(goal_id, hidden_dim)
        if key not in self._cache:
            self._cache[key] = self._load(goal_id, hidden_dim)
        return self._cache[key]

    def _load(self, goal_id: str, hidden_dim: int) -> Fitted | None:
        record = self.stats.models.get(model_key(goal_id, hidden_dim)) if self.stats else None
        if record is not None:
            data = self.ws.repo.read_file(self.commit, record.weights)
            if data is None:
                raise LineageFileError(
                    f"{record.weights} is missing on {self.commit[:10]} although "
                    f"{self.ws.lineage(STATS)} lists it; train the model again"
                )
            return deserialise(
                data,
                goal_id=goal_id,
                sha256=record.sha256,
                source=f"{self.commit[:10]}:{record.weights}",
                stats=record.model_dump(),
            )
        if not self.train_missing:
            return None
        buffer = load_buffer(transitions_dir(self.ws), goal_id)
        if len(buffer) < 20:
            return None
        record, data, fitted = train_goal(self.ws, goal_id, hidden_dim, generation=self.generation)
        log.info(
            "trained the %s model of %d hidden units (%ss)", goal_id, hidden_dim, record.seconds
        )
        self.fresh[model_key(goal_id, hidden_dim)] = (record, data)
        return fitted

    def feed(self, hidden_dim: int | None) -> Callable[[str], Fitted | None] | None:
        """What a Session calls per goal, for a strategy asking for `hidden_dim` units."""
        if hidden_dim is None:
            return None
        return lambda goal_id: self.get(goal_id, hidden_dim)


def train_many(
    root: str, jobs: list[tuple[str, int]], generation: int
) -> list[tuple[dict[str, Any], bytes]]:
    """Train (goal, hidden_dim) models in a process of their own, on one torch thread so the
    evaluations beside it keep the other core: the loop's background task."""
    import torch

    from bot.workspace import Workspace as _Workspace

    torch.set_num_threads(1)
    ws = _Workspace.open(Path(root))
    out = []
    for goal, dim in jobs:
        record, data, _ = train_goal(ws, goal, dim, generation=generation)
        out.append((record.model_dump(), data))
    return out
