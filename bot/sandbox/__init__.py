"""Sandboxes: where untrusted strategy code runs. Backends are registered in `BACKENDS`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bot.errors import ConfigError, SandboxUnavailable

if TYPE_CHECKING:
    from bot.config import EvaluationConfig

log = logging.getLogger("augnes.sandbox")


# Failure kinds a judgment may carry. The first group is the strategy's own doing; the
# second means the sandbox had to stop it, which disqualifies the candidate from merging.
LOGIC_FAILURES = ("crash", "timeout", "invalid_action", "malformed", "protocol", "load_error")
CONTAINED = ("sandbox_violation", "memory", "disk_limit", "resource_limit", "output_limit")
FAILURE_KINDS = LOGIC_FAILURES + CONTAINED
# A worker that failed this way while starting is not started again for the same candidate.
UNLOADABLE = ("load_error", *CONTAINED)


class NoSandbox:
    """For jobs that run no strategy code (proposing, selecting): starting a worker is an
    error, not a silent fallback."""

    name = "no-sandbox"

    def start(self, strategy_dir: Path, *, timeout: float) -> Worker:
        raise WorkerFailure("load_error", "this step runs no strategy code")

    def close(self) -> None:
        pass


def known_kind(kind: object, default: str) -> str:
    """A failure kind reported by a worker, which runs untrusted code: one we know, or `default`."""
    return kind if isinstance(kind, str) and kind in FAILURE_KINDS else default


class WorkerFailure(Exception):
    """The worker crashed, hung, or broke the wire. `kind` classifies it for the judgment."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class Worker(Protocol):
    """One running strategy. Requests are answered in order; `send` may run ahead of
    `receive` (the evaluator keeps two requests in flight)."""

    def call(
        self, header: dict[str, Any], payload: bytes = b"", *, timeout: float
    ) -> tuple[dict[str, Any], bytes]: ...

    def send(self, header: dict[str, Any], payload: bytes = b"", *, timeout: float) -> None: ...

    def receive(self, *, timeout: float) -> tuple[dict[str, Any], bytes]: ...

    def close(self) -> None: ...


class Sandbox(Protocol):
    name: str

    def start(self, strategy_dir: Path, *, timeout: float) -> Worker: ...

    def close(self) -> None: ...


BACKENDS = ("docker", "bwrap", "none")
INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`) or start a Docker "
    "engine (or podman's: `podman system service`), or pass `--sandbox none` to run "
    "strategies unconfined, which only trusted code deserves"
)


def backend_problem(name: str, *, image: str | None = None) -> str | None:
    """Why backend `name` cannot run on this machine, or None when it can."""
    if name == "none":
        return None
    if name == "bwrap":
        from bot.sandbox.bwrap_backend import preflight

        return preflight()
    if name == "docker":
        from bot.sandbox.docker_backend import preflight as docker_preflight

        return docker_preflight(None, image) if image else docker_preflight()
    return f"unknown sandbox backend {name!r}; choose one of auto, {', '.join(BACKENDS)}"


def detect(*, image: str | None = None) -> str:
    """The backend `auto` means here: docker when an engine answers (with the worker image),
    else bwrap when it works, else an error that says what to install. Never `none`."""
    problems = {}
    for name in ("docker", "bwrap"):
        why = backend_problem(name, image=image)
        if why is None:
            return name
        problems[name] = why
    detail = "; ".join(f"{name}: {why}" for name, why in problems.items())
    raise SandboxUnavailable(f"no sandbox backend works on this machine ({detail}); {INSTALL_HINT}")


def get_sandbox(
    name: str, limits: Mapping[str, int] | None = None, *, image: str | None = None
) -> Sandbox:
    """Open backend `name` ("auto" detects one); `image` is the docker backend's worker
    image. `none` warns every time it is opened."""
    if name == "auto":
        name = detect(image=image)
    if name not in BACKENDS:
        raise ConfigError(
            f"unknown sandbox backend {name!r}; choose one of auto, {', '.join(BACKENDS)}"
        )
    sandbox: Sandbox
    if name == "none":
        from bot.sandbox.subprocess_backend import SubprocessSandbox

        log.warning(
            "sandbox `none`: strategies run UNCONFINED, with your files, network and "
            "processes within reach; use it only for code you trust"
        )
        sandbox = SubprocessSandbox()
        return sandbox
    why = backend_problem(name, image=image)
    if why is not None:
        raise SandboxUnavailable(f"the {name} sandbox cannot run here: {why}; {INSTALL_HINT}")
    if name == "bwrap":
        from bot.sandbox.bwrap_backend import BwrapSandbox

        sandbox = BwrapSandbox(limits=dict(limits or {}))
    else:
        from bot.sandbox.docker_backend import DockerSandbox

        sandbox = DockerSandbox(limits=dict(limits or {}), **({"image": image} if image else {}))
    return sandbox


def open_sandbox(evaluation: EvaluationConfig) -> Sandbox:
    """The sandbox an `evaluation` configuration section asks for."""
    return get_sandbox(
        evaluation.sandbox, evaluation.limits.model_dump(), image=evaluation.docker_image
    )
