"""The `docker` backend: one container per worker, through the Docker Engine API.

Each container runs the image built from `benchmarks/sandbox/Dockerfile` with no network,
a read-only root, tmpfs scratch, /tmp and /dev/shm of fixed sizes, memory equal to
memory+swap, a process count and one CPU, every capability dropped, no-new-privileges,
a non-root user, explicit ulimits, and the engine's default seccomp profile with the
worker's own filter (seccomp.py) stacked on top. The harness and the strategy are
bind-mounted read-only; the wire is a Unix socket in a folder mounted into the container
(a socket needs no network). Containers carry labels, so that those a killed bot left
behind are removed the next time a sandbox opens. Tested against podman's
Docker-compatible API; on GitHub Actions it is Docker itself.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import select
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any, cast

from bot.sandbox import WorkerFailure
from bot.sandbox.bwrap_backend import DEFAULT_LIMITS, SIGNAL_KINDS
from bot.sandbox.subprocess_backend import HERE, PipeWorker

IMAGE = "augnes-worker:latest"
LABEL = "augnes.sandbox"
OWNER = "augnes.owner"
USER = "65534:65534"
NPROC = 1024
ENVIRONMENT = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONHASHSEED": "0",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
DOCKERFILE_HINT = (
    "build it with `docker build -t augnes-worker benchmarks/sandbox`, or offline with "
    "`augnes doctor --build-image` (see benchmarks/sandbox/Dockerfile)"
)


def _client(base_url: str | None) -> Any:
    import docker

    if base_url:
        return docker.DockerClient(base_url=base_url, timeout=60)
    return docker.from_env(timeout=60)


@functools.cache
def preflight(base_url: str | None = None, image: str = IMAGE) -> str | None:
    """Why the docker backend cannot run here, or None when an engine answers and has the
    worker image."""
    why = engine_problem(base_url)
    if why:
        return why
    client = _client(base_url)
    try:
        client.images.get(image)
    except Exception:
        return f"the engine answers, but the worker image {image} is missing; {DOCKERFILE_HINT}"
    finally:
        client.close()
    return None


def engine_problem(base_url: str | None = None) -> str | None:
    """Why no Docker engine can be used here, or None when one answers."""
    try:
        import docker  # noqa: F401
    except ImportError:
        return "the `docker` Python package is missing (pip install docker)"
    try:
        client = _client(base_url)
        client.ping()
    except Exception as exc:  # the SDK raises many kinds for "no engine"
        where = base_url or os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        return f"no Docker engine answers at {where} ({type(exc).__name__})"
    client.close()
    return None


class ContainerWorker(PipeWorker):
    """A worker in its own container: ended by killing the container; its supervisor
    reports on the lifeline how the worker ended."""

    def __init__(
        self,
        container: Any,
        folder: Path,
        lifeline: socket.socket,
        wire: socket.socket,
        err: socket.socket,
        *,
        timeout: float,
        output_limit: int,
        remover: Any,
    ) -> None:
        self.container = container
        self._folder = folder
        self._lifeline = lifeline
        self._ending = False
        self._report = b""
        self._remover = remover
        self._err = err  # before the base class, which kills the worker if it is not ready
        super().__init__(
            wire,
            cast(IO[bytes], err.makefile("rb", buffering=0)),
            timeout=timeout,
            output_limit=output_limit,
        )

    def _terminate(self) -> None:
        """End of file on the lifeline makes the supervisor (PID 1) exit, and the kernel then
        ends everything in the container: no engine round trip. `_wait_dead` falls back on
        killing the container through the engine if that does not happen."""
        with contextlib.suppress(OSError):
            self._lifeline.shutdown(socket.SHUT_WR)
        self._ending = True

    def _wait_dead(self, timeout: float) -> None:
        sock = self._lifeline
        if sock.fileno() < 0:
            return
        deadline = time.monotonic() + timeout
        escalated = False
        while True:
            remaining = deadline - time.monotonic()
            if self._ending and not escalated:
                remaining = min(remaining, 2.0)
            ready, _, _ = select.select([sock], [], [], max(0.0, remaining))
            if not ready:
                if escalated or not self._ending or time.monotonic() >= deadline:
                    return
                with contextlib.suppress(Exception):
                    self.container.kill()
                escalated = True
                continue
            try:
                chunk = sock.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            self._report += chunk

    def _settle(self) -> None:
        self._wait_dead(1.0)

    def _how_it_ended(self) -> tuple[str, str]:
        try:
            report = json.loads(self._report or b"{}")
        except ValueError:
            report = {}
        if "signal" in report:
            if report["signal"] == "SIGKILL" and self._oom_killed():
                return "memory", " (out of memory)"
            kind, why = SIGNAL_KINDS.get(report["signal"], ("crash", ""))
            return kind, f" on {report['signal']}{why}"
        if "exit" in report:
            return "crash", f" with status {report['exit']}"
        if self._oom_killed():
            return "memory", " (out of memory)"
        return "crash", ""

    def _oom_killed(self) -> bool:
        with contextlib.suppress(Exception):
            self.container.reload()
            return bool(self.container.attrs.get("State", {}).get("OOMKilled"))
        return False

    def kill(self) -> None:
        closed = self._closed
        super().kill()
        if not closed:
            self._lifeline.close()
            self._err.close()
            self._remover(self.container, self._folder)


class DockerSandbox:
    """One container per worker (see the module's docstring)."""

    name = "docker"

    def __init__(
        self,
        *,
        limits: dict[str, int] | None = None,
        base_url: str | None = None,
        image: str = IMAGE,
    ) -> None:
        why = preflight(base_url, image)
        if why:
            raise WorkerFailure("load_error", f"the docker sandbox cannot run here: {why}")
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self.client = _client(base_url)
        self.image = image
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._pending: list[threading.Thread] = []
        self.sweep()

    def sweep(self) -> int:
        """Remove containers that an earlier bot on this machine left behind (its process
        is gone). Returns how many."""
        host = socket.gethostname()
        removed = 0
        # the raw list: inspecting each would race with containers being removed meanwhile
        for item in self.client.api.containers(all=True, filters={"label": LABEL}):
            owner = (item.get("Labels") or {}).get(OWNER, "")
            name, _, pid = owner.partition(":")
            if name == host and pid.isdigit() and _alive(int(pid)):
                continue
            with contextlib.suppress(Exception):
                self.client.api.remove_container(item["Id"], force=True)
                removed += 1
        return removed

    def start(self, strategy_dir: Path, *, timeout: float) -> ContainerWorker:
        strategy_dir = strategy_dir.resolve()
        io = Path(tempfile.mkdtemp(prefix="augnes-io-"))
        io.chmod(0o755)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path = io / "wire.sock"
        server.bind(str(path))
        path.chmod(0o777)
        server.listen(3)
        server.settimeout(timeout)
        lim = self.limits
        limits = {k: v for k, v in lim.items() if k not in ("processes", "output_kb")}
        from docker.types import Mount, Ulimit

        try:
            container = self.client.containers.run(
                self.image,
                ["python3", "-I", "-B", "/augnes/harness/container_entry.py", json.dumps(limits)],
                detach=True,
                user=USER,
                environment=ENVIRONMENT,
                network_mode="none",
                read_only=True,
                tmpfs={
                    "/scratch": f"size={lim['scratch_mb']}m,mode=1777",
                    "/tmp": f"size={lim['tmp_mb']}m,mode=1777",
                },
                shm_size=f"{lim['shm_mb']}m",
                mem_limit=f"{lim['memory_mb']}m",
                memswap_limit=f"{lim['memory_mb']}m",
                pids_limit=lim["processes"],
                nano_cpus=1_000_000_000,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                ulimits=[
                    Ulimit(name="nofile", soft=lim["open_files"], hard=lim["open_files"]),
                    Ulimit(name="cpu", soft=lim["cpu_seconds"], hard=lim["cpu_seconds"] + 2),
                    Ulimit(
                        name="fsize", soft=lim["scratch_mb"] << 20, hard=lim["scratch_mb"] << 20
                    ),
                    Ulimit(name="core", soft=0, hard=0),
                    # counted per user across the host, so set wide; pids_limit is the cap
                    Ulimit(name="nproc", soft=NPROC, hard=NPROC),
                ],
                mounts=[
                    Mount("/augnes/harness", str(HERE), type="bind", read_only=True),
                    Mount("/strategy", str(strategy_dir), type="bind", read_only=True),
                    Mount("/augnes/io", str(io), type="bind", read_only=True),
                ],
                labels={LABEL: "worker", OWNER: self.owner},
                working_dir="/strategy",
            )
        except Exception as exc:
            server.close()
            shutil.rmtree(io, ignore_errors=True)
            raise WorkerFailure("load_error", f"the container did not start: {exc}") from None
        try:
            streams: dict[bytes, socket.socket] = {}
            while len(streams) < 3:
                conn, _ = server.accept()
                conn.settimeout(timeout)
                tag = conn.recv(1)
                streams[tag] = conn
        except OSError as exc:
            logs = _logs(container)
            for conn in streams.values():
                conn.close()
            self._remove(container, io)
            raise WorkerFailure(
                "load_error", f"the container's worker did not connect ({exc}): {logs}"
            ) from None
        finally:
            server.close()
        for conn in streams.values():
            conn.settimeout(None)
        return ContainerWorker(
            container,
            io,
            streams[b"L"],
            streams[b"W"],
            streams[b"E"],
            timeout=timeout,
            output_limit=lim["output_kb"] << 10,
            remover=self._remove,
        )

    def _remove(self, container: Any, folder: Path) -> None:
        """Remove a finished container in the background: the next evaluation need not wait."""

        def remove() -> None:
            with contextlib.suppress(Exception):
                container.remove(force=True)
            shutil.rmtree(folder, ignore_errors=True)

        thread = threading.Thread(target=remove, daemon=True, name="augnes-container-rm")
        thread.start()
        self._pending = [t for t in self._pending if t.is_alive()] + [thread]

    def close(self) -> None:
        for thread in self._pending:
            thread.join(timeout=30)
        self.sweep()
        self.client.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _logs(container: Any) -> str:
    with contextlib.suppress(Exception):
        text: str = container.logs(stdout=True, stderr=True).decode(errors="replace")
        return text.strip()[-1500:]
    return ""
