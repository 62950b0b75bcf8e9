"""Sandboxes: where untrusted strategy code runs. Backends are registered in `BACKENDS`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from bot.errors import ConfigError


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


def get_sandbox(name: str) -> Sandbox:
    from bot.sandbox.subprocess_backend import SubprocessSandbox

    backends: dict[str, type] = {"subprocess": SubprocessSandbox}
    if name not in backends:
        raise ConfigError(f"unknown sandbox backend {name!r}; choose one of {sorted(backends)}")
    sandbox: Sandbox = backends[name]()
    return sandbox
