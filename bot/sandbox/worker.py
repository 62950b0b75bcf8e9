"""The strategy worker: runs untrusted strategy code and answers observations with actions.

Started as `python -I worker.py <strategy-dir>` by a sandbox backend. It never sees a reward:
it receives a goal's description and batches of observations, and returns actions. Anything it
prints goes to stderr, because stdout carries the wire.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from wire import FrameReader, WireError, write_frame  # noqa: E402


def _load(strategy_dir: Path):  # type: ignore[no-untyped-def]
    manifest_text = (strategy_dir / "strategy.toml").read_text(encoding="utf-8")
    import tomllib

    manifest = tomllib.loads(manifest_text)
    params = json.loads((strategy_dir / "params.json").read_text(encoding="utf-8"))
    file_name, func_name = manifest["entry"].split(":")
    sys.path.insert(0, str(strategy_dir))
    spec = importlib.util.spec_from_file_location("augnes_strategy", strategy_dir / file_name)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {file_name}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, func_name), params


# What an exception says about the strategy: hitting a wall of the sandbox is not a bug.
_ERRNO_KINDS = {
    errno.EPERM: "sandbox_violation",
    errno.EACCES: "sandbox_violation",
    errno.EROFS: "sandbox_violation",
    errno.ENETUNREACH: "sandbox_violation",
    errno.ENOSPC: "disk_limit",
    errno.EFBIG: "disk_limit",
    errno.EDQUOT: "disk_limit",
    errno.EMFILE: "resource_limit",
    errno.ENFILE: "resource_limit",
    errno.EAGAIN: "resource_limit",
}


def classify(exc: BaseException | None, default: str) -> str:
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, OSError) and exc.errno in _ERRNO_KINDS:
        return _ERRNO_KINDS[exc.errno]
    return default


def _error(kind: str) -> dict[str, str]:
    kind = classify(sys.exc_info()[1], kind)
    return {"op": "error", "kind": kind, "message": traceback.format_exc(limit=-3)[-2000:]}


def _act(policies: dict, header: dict, payload: bytes) -> tuple[dict, bytes]:  # type: ignore[type-arg]
    """Answer every goal's batch of observations; one goal's crash does not sink the others."""
    parts: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    offset = 0
    for part in header["parts"]:
        rows, width = part["shape"]
        size = rows * width * 8
        obs = np.frombuffer(payload, dtype=np.float64, count=rows * width, offset=offset).reshape(
            rows, width
        )
        offset += size
        policy = policies.get(part["goal"])
        if policy is None:
            parts.append(
                {"error": "protocol", "message": f"goal {part['goal']!r} was not initialised"}
            )
            continue
        try:
            actions = np.ascontiguousarray(np.asarray(policy.act(obs)))
            data = actions.tobytes()
        except Exception:
            error = _error("crash")
            parts.append({"error": error["kind"], "message": error["message"]})
            continue
        parts.append({"dtype": actions.dtype.str, "shape": list(actions.shape), "bytes": len(data)})
        chunks.append(data)
    return {"op": "actions", "parts": parts}, b"".join(chunks)


def _arrays(layout: list, payload: bytes) -> dict:  # type: ignore[type-arg]
    """Named arrays laid end to end in the payload, as the header describes them."""
    out, offset = {}, 0
    for item in layout:
        dtype = np.dtype(item["dtype"])
        count = int(np.prod(item["shape"])) if item["shape"] else 1
        out[item["name"]] = np.frombuffer(payload, dtype=dtype, count=count, offset=offset).reshape(
            item["shape"]
        )
        offset += count * dtype.itemsize
    return out


def _call(policies: dict, header: dict) -> dict:  # type: ignore[type-arg]
    """Test cases: call the goal's policy once per input; one case's exception is that
    case's failure, not the worker's."""
    policy = policies.get(header.get("goal"))
    if policy is None:
        return {"op": "error", "kind": "protocol", "message": "goal was not initialised"}
    results = []
    for value in header.get("inputs", []):
        started = time.perf_counter()
        try:
            output = policy(value)
            json.dumps(output)  # the answer must travel back as JSON
            results.append({"output": output, "seconds": time.perf_counter() - started})
        except Exception:
            error = _error("crash")
            results.append(
                {"error": error["kind"], "message": error["message"][-500:],
                 "seconds": time.perf_counter() - started}
            )  # fmt: skip
    return {"op": "results", "results": results}


def _pytest(strategy_dir: Path, header: dict) -> dict:  # type: ignore[type-arg]
    """Run the test files the trusted side sent against the strategy's folder, in this
    process, and return pytest's JUnit XML report as text."""
    import contextlib
    import io
    import tempfile

    try:
        import pytest
    except ImportError:
        return {"op": "error", "kind": "load_error", "message": "pytest is not installed here"}
    work = Path(tempfile.mkdtemp(prefix="augnes-tests-"))
    for name, text in header.get("files", {}).items():
        if "/" in name or name.startswith("."):
            return {"op": "error", "kind": "protocol", "message": f"bad test file name {name}"}
        (work / name).write_text(text, encoding="utf-8")
    report = work / "report.xml"
    with contextlib.redirect_stdout(io.StringIO()):
        code = pytest.main(
            [str(work), f"--junitxml={report}", "-q", "-p", "no:cacheprovider",
             f"--rootdir={work}", "--override-ini=python_files=*.py"]
        )  # fmt: skip
    if not report.exists():
        return {"op": "error", "kind": "crash", "message": f"pytest exited {int(code)}, no report"}
    return {"op": "report", "junit": report.read_text(encoding="utf-8")[:900_000]}


def serve(
    strategy_dir: Path, wire_in: int, wire_out: int, reader: FrameReader | None = None
) -> int:
    try:
        make_policy, params = _load(strategy_dir)
    except Exception:
        write_frame(wire_out, _error("load_error"))
        return 1
    write_frame(wire_out, {"op": "ready"})
    policies = {}
    reader = reader or FrameReader(wire_in)
    while True:
        try:
            header, payload = reader.read()
        except WireError:
            return 0
        op = header.get("op")
        if op == "close":
            return 0
        if op == "init":
            try:
                spec = header["spec"]
                if header.get("arrays"):  # e.g. the goal's world model, for model-based play
                    spec = {**spec, "arrays": _arrays(header["arrays"], payload)}
                policies[spec["goal_id"]] = make_policy(params, spec)
            except Exception:
                write_frame(wire_out, _error("crash"))
                continue
            write_frame(wire_out, {"op": "ok"})
        elif op == "act":
            write_frame(wire_out, *_act(policies, header, payload))
        elif op == "call":
            write_frame(wire_out, _call(policies, header))
        elif op == "pytest":
            write_frame(wire_out, _pytest(strategy_dir, header))
        else:
            write_frame(
                wire_out, {"op": "error", "kind": "protocol", "message": f"unexpected {op!r}"}
            )


def main() -> int:
    wire_in = 0
    wire_out = os.dup(1)
    os.dup2(2, 1)  # whatever the strategy prints must not corrupt the wire
    return serve(Path(sys.argv[1]), wire_in, wire_out)


if __name__ == "__main__":
    sys.exit(main())
