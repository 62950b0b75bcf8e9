"""The world model of one goal: a torch MLP from the normalised (state, action) to the
normalised change of state, trained with a validation split and early stopping, and judged
against two baselines — "nothing changes" (Δs = 0) and a linear least-squares model.

Weights are saved as a plain tensor dictionary (`torch.save` of tensors only) and loaded with
`weights_only=True`, after their SHA-256 matches the one recorded in the trusted stats file:
a file that was changed since is refused, and no file an untrusted job made is ever loaded.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from bot.errors import LineageFileError
from bot.world_model.buffer import Buffer

MAX_EPOCHS = 300
PATIENCE = 12
BATCH = 256


class WeightsRefused(LineageFileError):
    default_message = "a world-model weights file was refused"


@dataclass(frozen=True)
class TrainConfig:
    hidden_dim: int = 64
    layers: int = 2  # hidden layers: 1 or 2
    val_fraction: float = 0.2
    lr: float = 3e-3
    max_epochs: int = MAX_EPOCHS
    patience: int = PATIENCE
    seed: int = 0


@dataclass
class Fitted:
    """A trained model in plain arrays (what the strategy worker receives), with its error."""

    goal_id: str
    hidden_dim: int
    layers: int
    actions: int | None  # discrete: how many actions (one-hot inputs); continuous: None
    arrays: dict[str, np.ndarray]
    stats: dict[str, Any]


def encode_actions(act: np.ndarray, actions: int | None) -> np.ndarray:
    if actions is None:
        return act.astype(np.float32)
    index = np.clip(act[:, 0].round().astype(np.int64), 0, actions - 1)
    return np.eye(actions, dtype=np.float32)[index]


def _inputs(buffer: Buffer, actions: int | None) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([buffer.obs, encode_actions(buffer.act, actions)], axis=1)
    y = buffer.next_obs - buffer.obs
    return x.astype(np.float32), y.astype(np.float32)


def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    cut = max(1, int(round(n * fraction)))
    return order[cut:], order[:cut]


def _errors(pred: np.ndarray, y: np.ndarray, var: np.ndarray) -> tuple[float, float]:
    """MSE averaged over dimensions, and the same with each dimension divided by the
    variance of its target (1.0 = no better than predicting the mean change)."""
    per_dim = ((pred - y) ** 2).mean(axis=0)
    return float(per_dim.mean()), float((per_dim / var).mean())


def baselines(
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray
) -> dict[str, float]:
    var = _variance(y_val)
    zero_mse, zero_nmse = _errors(np.zeros_like(y_val), y_val, var)
    design = np.concatenate([x_train, np.ones((len(x_train), 1), np.float32)], axis=1)
    coef, *_ = np.linalg.lstsq(design.astype(np.float64), y_train.astype(np.float64), rcond=None)
    val_design = np.concatenate([x_val, np.ones((len(x_val), 1), np.float32)], axis=1)
    lin_mse, lin_nmse = _errors(val_design @ coef, y_val, var)
    return {
        "zero_mse": round(zero_mse, 8),
        "zero_nmse": round(zero_nmse, 6),
        "linear_mse": round(lin_mse, 8),
        "linear_nmse": round(lin_nmse, 6),
    }


def _variance(y: np.ndarray) -> np.ndarray:
    var = y.var(axis=0)
    return np.where(var > 1e-12, var, 1e-12)


def train(buffer: Buffer, *, actions: int | None, config: TrainConfig) -> Fitted:
    """Fit the model on `buffer` (validation split held out, early stopping on it)."""
    import torch

    if len(buffer) < 20:
        raise LineageFileError(
            f"{buffer.goal_id}: {len(buffer)} transitions are too few to train on; "
            "`augnes world-model sample` collects more"
        )
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    x, y = _inputs(buffer, actions)
    train_rows, val_rows = _split(len(x), config.val_fraction, config.seed)
    in_mean, in_std = x[train_rows].mean(0), x[train_rows].std(0) + 1e-6
    out_mean, out_std = y[train_rows].mean(0), y[train_rows].std(0) + 1e-6
    net = _network(x.shape[1], y.shape[1], config.hidden_dim, config.layers)
    xt = torch.from_numpy((x - in_mean) / in_std)
    yt = torch.from_numpy((y - out_mean) / out_std)
    xtr, ytr, xva, yva = xt[train_rows], yt[train_rows], xt[val_rows], yt[val_rows]
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    best, best_state, waited, epochs = math.inf, None, 0, 0
    for epoch in range(config.max_epochs):
        epochs = epoch + 1
        net.train()
        order = torch.randperm(len(xtr), generator=generator)
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(net(xtr[rows]), ytr[rows])
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
        net.eval()
        with torch.no_grad():
            val = float(torch.nn.functional.mse_loss(net(xva), yva))
        if val < best - 1e-6:
            best, waited = val, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            waited += 1
            if waited >= config.patience:
                break
    assert best_state is not None
    net.load_state_dict(best_state)
    with torch.no_grad():
        pred = net(xt).numpy() * out_std + out_mean
    var = _variance(y[val_rows])
    train_mse, train_nmse = _errors(pred[train_rows], y[train_rows], _variance(y[train_rows]))
    val_mse, val_nmse = _errors(pred[val_rows], y[val_rows], var)
    arrays = {f"net.{k}": v.numpy().astype(np.float32) for k, v in best_state.items()}
    arrays.update(in_mean=in_mean, in_std=in_std, out_mean=out_mean, out_std=out_std)
    stats = {
        "hidden_dim": config.hidden_dim,
        "layers": config.layers,
        "buffer_size": len(buffer),
        "samples": len(train_rows),
        "validation_samples": len(val_rows),
        "epochs": epochs,
        "train_mse": round(train_mse, 8),
        "train_nmse": round(train_nmse, 6),
        "val_mse": round(val_mse, 8),
        "val_nmse": round(val_nmse, 6),
        **baselines(x[train_rows], y[train_rows], x[val_rows], y[val_rows]),
        "seconds": round(time.perf_counter() - started, 3),
    }
    return Fitted(buffer.goal_id, config.hidden_dim, config.layers, actions, arrays, stats)


def _network(inputs: int, outputs: int, hidden: int, layers: int) -> Any:
    import torch

    parts: list[Any] = [torch.nn.Linear(inputs, hidden), torch.nn.Tanh()]
    for _ in range(layers - 1):
        parts += [torch.nn.Linear(hidden, hidden), torch.nn.Tanh()]
    parts.append(torch.nn.Linear(hidden, outputs))
    return torch.nn.Sequential(*parts)


def predict(fitted: Fitted, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
    """Next states from the arrays alone (numpy; what a model-based strategy computes)."""
    a = fitted.arrays
    h = (np.concatenate([obs, encode_actions(act, fitted.actions)], 1) - a["in_mean"]) / a["in_std"]
    linear = sorted(
        {int(k.split(".")[1]) for k in a if k.startswith("net.") and k.endswith(".weight")}
    )
    for n, index in enumerate(linear):
        h = h @ a[f"net.{index}.weight"].T + a[f"net.{index}.bias"]
        if n < len(linear) - 1:
            h = np.tanh(h)
    result: np.ndarray = obs + h * a["out_std"] + a["out_mean"]
    return result


# ---- weights as bytes (a file in lineage/world_models/) --------------------------------
def serialise(fitted: Fitted) -> bytes:
    """The tensors and three integers, nothing else (no code, no custom classes)."""
    import io

    import torch

    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in fitted.arrays.items()}
    tensors["meta.actions"] = torch.tensor(fitted.actions or 0)
    tensors["meta.layers"] = torch.tensor(fitted.layers)
    tensors["meta.hidden_dim"] = torch.tensor(fitted.hidden_dim)
    out = io.BytesIO()
    torch.save(tensors, out)
    return out.getvalue()


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def deserialise(
    data: bytes, *, goal_id: str, sha256: str, source: str, stats: dict[str, Any] | None = None
) -> Fitted:
    """Weights whose hash the trusted stats file recorded, loaded with `weights_only=True`;
    a changed file, or one holding anything but tensors, is refused."""
    import io

    import torch

    digest = sha256_of(data)
    if digest != sha256:
        raise WeightsRefused(
            f"{source}: SHA-256 {digest[:16]}… is not the {sha256[:16]}… recorded in "
            "world_model_stats.json; the file was changed — train the model again "
            "(`augnes world-model train`)"
        )
    try:
        tensors = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - every refusal to unpickle means the same
        raise WeightsRefused(f"{source}: not a plain tensor file ({exc})") from None
    if not isinstance(tensors, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in tensors.items()
    ):
        raise WeightsRefused(f"{source}: not a dictionary of tensors")
    try:
        actions = int(tensors.pop("meta.actions"))
        layers = int(tensors.pop("meta.layers"))
        hidden = int(tensors.pop("meta.hidden_dim"))
    except KeyError as exc:
        raise WeightsRefused(f"{source}: no {exc.args[0]}") from None
    arrays = {k: v.numpy().astype(np.float32) for k, v in tensors.items()}
    return Fitted(goal_id, hidden, layers, actions or None, arrays, dict(stats or {}))
