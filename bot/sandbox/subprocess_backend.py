"""The plain-process backend: each evaluation gets its own worker process, with a wall timeout
on every reply, a minimal environment and its own process group, but no confinement.

It gives the trusted scorer its separation (the strategy never runs in the bot's process and
never sees a reward); stronger backends slot in behind the same protocol. Workers are forked
from a zygote that has imported numpy and torch once, so a worker starts in milliseconds.
"""

from __future__ import annotations

import abc
import ast
import contextlib
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from bot.sandbox import WorkerFailure, known_kind
from bot.sandbox.wire import HEADER, WireError, decode_header, encode, parse_json

HERE = Path(__file__).resolve().parent
WORKER = HERE / "worker.py"
ZYGOTE = HERE / "zygote.py"
STDERR_KEEP = 64 * 1024
DEFAULT_PRELOAD = ("numpy", "torch")
LIGHT_PRELOAD = ("numpy",)


def worker_environment() -> dict[str, str]:
    """A minimal explicit environment: nothing of the bot's own (tokens, keys) passes."""
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = "1"
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


class PipeWorker(abc.ABC):
    """The bot's end of a worker: the wire (one Unix socket), a drained stderr, kill on close.

    Reply timeouts are enforced by the kernel (SO_RCVTIMEO), so a round trip costs one
    send and, usually, one receive: no poll, and no way for a worker (or a child it left
    holding the socket) to block the bot past its deadline."""

    def __init__(
        self,
        wire: socket.socket,
        stderr: IO[bytes],
        *,
        timeout: float,
        output_limit: int | None = None,
    ) -> None:
        self._output_limit = output_limit
        self._output = 0
        self._flooded = False
        self._wire = wire
        self._fd = wire.fileno()
        wire.setblocking(True)
        self._timeout = -1.0
        self._set_timeout(timeout)
        self._buffer = bytearray()
        self._closed = False
        self._stderr = bytearray()
        self._stderr_stream = stderr
        threading.Thread(target=self._drain, daemon=True).start()
        try:
            header, _ = self._read(time.monotonic() + timeout)
        except WorkerFailure:
            self.kill()
            raise
        if header.get("op") != "ready":
            self.kill()
            raise WorkerFailure(
                known_kind(header.get("kind"), "protocol"), str(header.get("message", header))
            )

    def _set_timeout(self, seconds: float) -> None:
        if seconds != self._timeout:
            whole = max(0.001, seconds)
            value = struct.pack("ll", int(whole), int((whole % 1) * 1_000_000))
            self._wire.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
            self._wire.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
            self._timeout = seconds

    def _drain(self) -> None:
        read = getattr(self._stderr_stream, "read1", self._stderr_stream.read)
        try:
            for chunk in iter(lambda: read(65536), b""):
                self._output += len(chunk)
                if self._output_limit is not None and self._output > self._output_limit:
                    if not self._flooded and not self._closed:
                        self._flooded = True
                        self._terminate()
                    continue
                self._stderr += chunk
                del self._stderr[:-STDERR_KEEP]
        except (OSError, ValueError):
            pass

    @property
    def stderr_tail(self) -> str:
        return bytes(self._stderr[-4000:]).decode(errors="replace")

    def _failure(self, kind: str, message: str) -> WorkerFailure:
        if self._flooded:
            return WorkerFailure(
                "output_limit",
                f"the worker wrote more than {self._output_limit} bytes to its output; ended",
            )
        return WorkerFailure(kind, message)

    def _gone(self, why: str) -> WorkerFailure:
        self._settle()
        self._terminate()
        self._wait_dead(2.0)
        kind, detail = self._how_it_ended()
        return self._failure(kind, f"the worker {why}{detail}: {self.stderr_tail.strip()[-1500:]}")

    def _how_it_ended(self) -> tuple[str, str]:
        """The failure kind of a worker that died, and a few words on how."""
        return "crash", ""

    def _settle(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Give a worker that just went away a moment to say how (before it is killed)."""

    def _fill(self, size: int, deadline: float) -> None:
        while len(self._buffer) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._failure("timeout", "the worker did not answer in time")
            if remaining < self._timeout / 2:  # a reply in many pieces: tighten the clock
                self._set_timeout(remaining)
            try:
                chunk = os.read(self._fd, 1 << 20)
            except BlockingIOError:  # SO_RCVTIMEO expired
                raise self._failure("timeout", "the worker did not answer in time") from None
            except OSError:
                raise self._gone("went away") from None
            if not chunk:
                raise self._gone("exited")
            self._buffer += chunk

    def _take(self, size: int, deadline: float) -> bytes:
        self._fill(size, deadline)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _read(self, deadline: float) -> tuple[dict[str, Any], bytes]:
        try:
            json_len, payload_len = decode_header(self._take(HEADER.size, deadline))
            header = parse_json(self._take(json_len, deadline))
        except WireError as exc:
            raise WorkerFailure("protocol", str(exc)) from None
        return header, self._take(payload_len, deadline)

    def call(
        self, header: dict[str, Any], payload: bytes = b"", *, timeout: float
    ) -> tuple[dict[str, Any], bytes]:
        self.send(header, payload, timeout=timeout)
        return self.receive(timeout=timeout)

    def send(self, header: dict[str, Any], payload: bytes = b"", *, timeout: float) -> None:
        self._set_timeout(timeout)
        view = memoryview(encode(header, payload))
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except BlockingIOError:  # SO_SNDTIMEO expired: the worker stopped reading
            raise self._failure("timeout", "the worker stopped reading its input") from None
        except OSError:
            raise self._gone("went away") from None

    def receive(self, *, timeout: float) -> tuple[dict[str, Any], bytes]:
        self._set_timeout(timeout)
        reply, data = self._read(time.monotonic() + timeout)
        if reply.get("op") == "error":
            raise WorkerFailure(
                known_kind(reply.get("kind"), "crash"), str(reply.get("message", ""))
            )
        return reply, data

    def kill(self) -> None:
        """End the worker and everything it started, at once (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._terminate()
        self._wait_dead(5.0)
        self._wire.close()
        with contextlib.suppress(OSError):
            self._stderr_stream.close()

    def close(self) -> None:
        # The worker holds nothing worth flushing: ending it is faster than a polite exit.
        self.kill()

    @abc.abstractmethod
    def _terminate(self) -> None:
        """Send the kill signal to the worker and its descendants."""

    @abc.abstractmethod
    def _wait_dead(self, timeout: float) -> None:
        """Return once the worker is gone, or after `timeout` seconds."""


class PopenWorker(PipeWorker):
    """A worker started as a fresh interpreter; its stdin and stdout are the wire socket."""

    def __init__(self, argv: list[str], cwd: Path, *, timeout: float) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with theirs:
            self.proc = subprocess.Popen(
                argv,
                stdin=theirs.fileno(),
                stdout=theirs.fileno(),
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=worker_environment(),
                start_new_session=True,
            )
        assert self.proc.stderr
        super().__init__(ours, self.proc.stderr, timeout=timeout)

    def _terminate(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def _wait_dead(self, timeout: float) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=timeout)


class ForkedWorker(PipeWorker):
    """A worker forked by the zygote; the bot holds a pidfd to end it without a pid race."""

    def __init__(self, pid: int, wire: socket.socket, stderr: int, *, timeout: float) -> None:
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)
        super().__init__(wire, os.fdopen(stderr, "rb", buffering=0), timeout=timeout)

    def _terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # its whole session, once it has made one
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)

    def _wait_dead(self, timeout: float) -> None:
        select.select([self.pidfd], [], [], timeout)

    def kill(self) -> None:
        closed = self._closed
        super().kill()
        if not closed:
            os.close(self.pidfd)


_LAUNCHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="augnes-launcher")


class Zygote:
    """The bot's handle on a zygote process; restarted when it has died. `command` starts it
    (a plain interpreter, or one inside bubblewrap); `confine` makes each child confine
    itself and report how it ended on a status pipe."""

    def __init__(
        self,
        preload: tuple[str, ...],
        *,
        command: list[str] | None = None,
        confine: dict[str, int] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.preload = preload
        self.command = command or [sys.executable, "-I", "-B", str(ZYGOTE)]
        self.confine = confine
        self.env = env or worker_environment()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._stderr = bytearray()
        self.start_error = ""

    def warm_up(self, timeout: float) -> None:
        """Start the zygote in the background, so the first worker does not wait for imports."""

        def start() -> None:
            with self._lock:
                if self._control is None:
                    # a failure here is not lost: spawn() tries again and reports it
                    with contextlib.suppress(OSError, WorkerFailure, ValueError):
                        self._start(timeout)

        threading.Thread(target=start, daemon=True, name="augnes-zygote").start()

    def _start(self, timeout: float) -> socket.socket:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = list(self.command)
        if self.confine is not None:
            argv += ["--confine", json.dumps(self.confine)]
        # Started from one long-lived thread: a parent-death signal (bwrap --die-with-parent)
        # fires when the *thread* that started the process ends, not the bot.
        self._proc = proc = _LAUNCHER.submit(
            subprocess.Popen,
            [*argv, *self.preload],
            stdin=theirs.fileno(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=self.env,
            start_new_session=True,
        ).result()
        theirs.close()
        ours.settimeout(timeout)
        try:
            hello = json.loads(ours.recv(4096) or b"{}")
        except (OSError, ValueError):
            hello = {}
        if hello.get("op") != "ready":
            ours.close()
            proc.kill()
            _, err = proc.communicate()
            self.start_error = err.decode(errors="replace").strip()[-2000:]
            raise WorkerFailure(
                "load_error", f"the worker zygote did not start: {self.start_error or 'no output'}"
            )
        self._stderr = bytearray()
        threading.Thread(target=_drain_into, args=(proc.stderr, self._stderr), daemon=True).start()
        self._control = ours
        return ours

    @property
    def stderr_tail(self) -> str:
        return bytes(self._stderr[-2000:]).decode(errors="replace").strip()

    def spawn(
        self, request: dict[str, Any], *, timeout: float
    ) -> tuple[int, socket.socket, int, int | None]:
        """Fork a worker. Returns its pid (as the zygote sees it), the bot's end of the wire,
        the read end of its stderr and, when confined, of its status pipe."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        err_read, err_write = os.pipe()
        status_read, status_write = os.pipe() if self.confine is not None else (None, None)
        fds = [theirs.fileno(), theirs.fileno(), err_write]
        if status_write is not None:
            fds.append(status_write)
        try:
            with self._lock:
                control = self._control
                if control is None or self._proc is None or self._proc.poll() is not None:
                    control = self._start(timeout)
                try:
                    socket.send_fds(control, [json.dumps(request).encode()], fds)
                    reply = json.loads(control.recv(4096) or b"{}")
                    if not reply:
                        raise OSError("it exited")
                except (OSError, ValueError) as exc:
                    tail = self.stderr_tail
                    self.close()
                    raise WorkerFailure(
                        "load_error", f"the worker zygote failed: {exc}: {tail}"
                    ) from None
        except BaseException:
            ours.close()
            os.close(err_read)
            if status_read is not None:
                os.close(status_read)
            raise
        finally:
            theirs.close()
            os.close(err_write)
            if status_write is not None:
                os.close(status_write)
        if "pid" not in reply:
            ours.close()
            os.close(err_read)
            if status_read is not None:
                os.close(status_read)
            raise WorkerFailure("load_error", f"the worker zygote refused: {reply}")
        return int(reply["pid"]), ours, err_read, status_read

    def kill(self, pid: int, *, hard: bool = False) -> None:
        """Ask the zygote to end a confined worker (and with it, its whole PID namespace):
        through its keeper, which then reports; or, `hard`, by killing the keeper too."""
        request = {"op": "kill", "pid": pid, "signal": "SIGKILL" if hard else "SIGTERM"}
        with self._lock:
            if self._control is not None:
                with contextlib.suppress(OSError):
                    self._control.send(json.dumps(request).encode())

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def close(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None


def _drain_into(stream: IO[bytes] | None, keep: bytearray) -> None:
    if stream is None:
        return
    with contextlib.suppress(OSError, ValueError):
        for chunk in iter(lambda: stream.read1(65536), b""):  # type: ignore[attr-defined]
            keep += chunk
            del keep[:-STDERR_KEEP]


def imported_modules(strategy_dir: Path) -> set[str]:
    """Top-level modules the strategy's Python files import (read, never run)."""
    names: set[str] = set()
    for path in strategy_dir.rglob("*.py"):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


class SubprocessSandbox:
    """The `none` backend: no confinement at all, for trusted strategies and debugging.

    Workers are forked from two zygotes started at once: a light one (numpy) that is ready
    in a fraction of a second, and a full one (numpy and torch) for strategies that import
    torch, whose second-long import then overlaps the first evaluations."""

    name = "none"

    def __init__(self, *, preload: tuple[str, ...] = DEFAULT_PRELOAD, fork: bool = True) -> None:
        self.heavy = set(preload) - set(LIGHT_PRELOAD)
        self.zygotes: dict[bool, Zygote] = {}
        if fork:
            self.zygotes[False] = Zygote(tuple(m for m in preload if m in LIGHT_PRELOAD))
            if self.heavy:
                self.zygotes[True] = Zygote(preload)
            for zygote in self.zygotes.values():
                zygote.warm_up(timeout=120.0)

    def start(self, strategy_dir: Path, *, timeout: float) -> PipeWorker:
        strategy_dir = strategy_dir.resolve()
        if self.zygotes:
            heavy = bool(self.heavy & imported_modules(strategy_dir)) and True in self.zygotes
            pid, wire, err, _ = self.zygotes[heavy].spawn(
                {"strategy_dir": str(strategy_dir)}, timeout=timeout
            )
            return ForkedWorker(pid, wire, err, timeout=timeout)
        argv = [sys.executable, "-I", "-B", str(WORKER), str(strategy_dir)]
        return PopenWorker(argv, strategy_dir, timeout=timeout)

    def close(self) -> None:
        for zygote in self.zygotes.values():
            zygote.close()
