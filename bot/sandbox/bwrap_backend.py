"""The `bwrap` backend: workers confined by bubblewrap, namespaces, limits and seccomp.

One bubblewrap sandbox per zygote holds only what a worker needs, read-only: the Python
installation and its site-packages, the system's shared libraries and the harness (this
folder). It has no network, its own PID, IPC and UTS namespaces, a minimal /dev, no
environment but an explicit one (bwrap itself is started without the bot's), and dies with
the bot. Inside, the zygote forks one worker per evaluation, and each worker first confines
itself further (confine.py): namespaces of its own, the strategy's files received over the
wire into a read-only tmpfs (the host tree is never mounted), sized scratch, /tmp and
/dev/shm, resource limits, an unprivileged uid (when the bot is root) or a user namespace
(when it is not) with every capability dropped, and the seccomp filter.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import select
import shutil
import site
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

from bot.config import LimitsConfig
from bot.sandbox import WorkerFailure, seccomp
from bot.sandbox.subprocess_backend import (
    DEFAULT_PRELOAD,
    HERE,
    LIGHT_PRELOAD,
    PipeWorker,
    Zygote,
    imported_modules,
    worker_environment,
)

HARNESS = "/augnes/harness"
MAX_BUNDLE = 32 << 20
# Workers run as uids from this range when the bot is root: ids no account uses, distinct
# for every live worker, so that per-user limits and signals do not reach across workers.
UID_BASE = 1_900_000_000
# the configuration's defaults (evaluation.limits), for a sandbox opened without one
DEFAULT_LIMITS: dict[str, int] = LimitsConfig().model_dump()

SIGNAL_KINDS = {
    "SIGSYS": ("sandbox_violation", " (a forbidden system call)"),
    "SIGXCPU": ("timeout", " (its CPU time limit)"),
    "SIGXFSZ": ("disk_limit", " (its file size limit)"),
}


def _bind_roots() -> list[Path]:
    """The folders the interpreter needs: its installation, the virtual environment and
    every site-packages folder, with those inside another left out."""
    wanted = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    for name in [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]:
        if Path(name).is_dir():
            wanted.add(Path(name).resolve())
    roots: list[Path] = []
    for path in sorted(wanted, key=lambda p: len(p.parts)):
        if not any(path.is_relative_to(root) for root in roots):
            roots.append(path)
    return roots


RESERVED = ("/tmp", "/dev", "/proc", "/scratch", "/strategy", "/augnes")


def _inside(roots: list[Path], path: Path) -> str:
    """Where `path` (under one of `roots`) appears in the sandbox: the same place, unless
    that place is one the sandbox mounts over (a virtual environment in /tmp, say)."""
    for n, root in enumerate(roots):
        if path == root or path.is_relative_to(root):
            if any(str(root) == r or str(root).startswith(r + "/") for r in RESERVED):
                return str(Path(f"/augnes/python{n}") / path.relative_to(root))
            return str(path)
    return str(path)


def bwrap_command(*, user_namespace: bool) -> list[str]:
    """The bubblewrap command line that starts the zygote."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise FileNotFoundError("bwrap")
    argv = [
        bwrap,
        "--die-with-parent",
        "--new-session",
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "augnes-sandbox",
        "--clearenv",
    ]
    if user_namespace:
        # not root: a user namespace gives the zygote the capabilities it needs to confine
        # each worker; the worker then drops them all (confine.py)
        argv += ["--unshare-user", "--cap-add", "ALL"]
    for name, value in worker_environment().items():
        argv += ["--setenv", name, value]
    for folder in ("/usr/lib", "/usr/lib64", "/usr/lib32"):
        if Path(folder).is_dir():
            argv += ["--ro-bind", folder, folder]
    for link in ("/lib", "/lib64", "/lib32"):
        path = Path(link)
        if path.is_symlink():
            argv += ["--symlink", os.readlink(path), link]
        elif path.is_dir():
            argv += ["--ro-bind", link, link]
    if Path("/etc/ld.so.cache").is_file():
        argv += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    argv += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--dir", "/dev/shm"]
    argv += ["--dir", "/scratch", "--dir", "/strategy", "--chdir", "/"]
    roots = _bind_roots()
    made: set[str] = set()
    for root in roots:
        inside = Path(_inside(roots, root))
        # bwrap would make missing parents (such as /root) private to their owner
        for parent in reversed(inside.parents[:-1]):
            if str(parent) not in made:
                made.add(str(parent))
                argv += ["--perms", "0755", "--dir", str(parent)]
        argv += ["--ro-bind", str(root), str(inside)]
    argv += ["--ro-bind", str(HERE), HARNESS]
    # the sandbox's own root (a tmpfs) read-only too: a worker that may write there (in a
    # user namespace it owns it) could leave files for the next candidate's worker
    argv += ["--remount-ro", "/"]
    argv += [_inside(roots, Path(sys.executable).absolute()), "-I", "-B", f"{HARNESS}/zygote.py"]
    return argv


def bundle(strategy_dir: Path) -> tuple[dict[str, Any], bytes]:
    """The strategy's files as one wire frame (the sandbox never sees the host's tree)."""
    files, chunks, total = [], [], 0
    for path in sorted(strategy_dir.rglob("*")):
        if path.is_symlink() or not path.is_file() or "__pycache__" in path.parts:
            continue
        data = path.read_bytes()
        total += len(data)
        if total > MAX_BUNDLE:
            raise WorkerFailure(
                "load_error",
                f"{strategy_dir}: the strategy's files exceed {MAX_BUNDLE >> 20} MiB",
            )
        files.append({"path": path.relative_to(strategy_dir).as_posix(), "size": len(data)})
        chunks.append(data)
    return {"op": "bundle", "files": files}, b"".join(chunks)


class ConfinedWorker(PipeWorker):
    """A worker inside the sandbox. It is ended through the zygote (its pid means nothing
    outside), and its keeper process reports on a status pipe how it ended."""

    def __init__(
        self,
        zygote: Zygote,
        pid: int,
        wire: socket.socket,
        stderr: int,
        status: int,
        strategy: tuple[dict[str, Any], bytes],
        *,
        timeout: float,
        output_limit: int,
    ) -> None:
        self.zygote = zygote
        self.pid = pid
        self._status = status
        self._status_text = b""
        from bot.sandbox.wire import encode

        wire.settimeout(timeout)
        with contextlib.suppress(OSError):  # a worker dead at set-up: the ready check says so
            wire.sendall(encode(*strategy))
        super().__init__(
            wire,
            os.fdopen(stderr, "rb", buffering=0),
            timeout=timeout,
            output_limit=output_limit,
        )

    def _terminate(self) -> None:
        self.zygote.kill(self.pid)

    def _wait_dead(self, timeout: float) -> None:
        """The keeper writes its report and closes the status pipe when the worker's
        namespace is gone; waiting for that end of file means no process is left."""
        fd = self._status
        if fd < 0:
            return
        deadline = time.monotonic() + timeout
        escalated = False
        while True:
            remaining = deadline - time.monotonic()
            if not escalated and self._closed:  # a kill that the keeper does not answer
                remaining = min(remaining, 2.0)
            ready, _, _ = select.select([fd], [], [], max(0.0, remaining))
            if not ready:
                if escalated or not self._closed or time.monotonic() >= deadline:
                    return
                self.zygote.kill(self.pid, hard=True)
                escalated = True
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                return
            self._status_text += chunk

    def _settle(self) -> None:
        self._wait_dead(1.0)  # the keeper reports as soon as its worker has ended

    def _how_it_ended(self) -> tuple[str, str]:
        try:
            report = json.loads(self._status_text or b"{}")
        except ValueError:
            report = {}
        if "signal" in report:
            kind, why = SIGNAL_KINDS.get(report["signal"], ("crash", ""))
            return kind, f" on {report['signal']}{why}"
        if report.get("exit") == 71:
            return "load_error", " while the sandbox was set up"
        if "exit" in report:
            return "crash", f" with status {report['exit']}"
        return "crash", ""

    def kill(self) -> None:
        closed = self._closed
        super().kill()
        if not closed and self._status >= 0:
            os.close(self._status)
            self._status = -1


@functools.cache
def preflight() -> str | None:
    """Why the bwrap backend cannot run on this machine, or None when it can. Runs a real
    sandbox with the same command line as the workers' and checks it from the inside."""
    why = seccomp.supported()
    if why:
        return why
    try:
        argv = bwrap_command(user_namespace=os.geteuid() != 0)
    except FileNotFoundError:
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    probe = "import socket; socket.socket(socket.AF_UNIX).close(); print('ok')"
    python = argv.index("-I") - 1
    argv = [*argv[: python + 1], "-I", "-c", probe]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=30, env=worker_environment()
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not start: {exc}"
    if done.returncode != 0 or done.stdout.strip() != "ok":
        detail = (done.stderr or done.stdout).strip().splitlines()
        hint = ""
        if any("namespace" in line or "Operation not permitted" in line for line in detail):
            hint = (
                " (unprivileged user namespaces look disabled: "
                "sysctl kernel.unprivileged_userns_clone=1, or run as root)"
            )
        return f"bubblewrap failed: {detail[-1] if detail else done.returncode}{hint}"
    return None


class BwrapSandbox:
    """Workers confined by bubblewrap (see the module's docstring). Like the `none`
    backend, a light zygote (numpy) and a heavy one (numpy and torch) start at once."""

    name = "bwrap"

    def __init__(
        self,
        *,
        limits: dict[str, int] | None = None,
        preload: tuple[str, ...] = DEFAULT_PRELOAD,
    ) -> None:
        why = preflight()
        if why:
            raise WorkerFailure("load_error", f"the bwrap sandbox cannot run here: {why}")
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self.heavy = set(preload) - set(LIGHT_PRELOAD)
        command = bwrap_command(user_namespace=os.geteuid() != 0)
        self.zygotes: dict[bool, Zygote] = {}
        confine = {k: v for k, v in self.limits.items() if k != "output_kb"}
        light = tuple(m for m in preload if m in LIGHT_PRELOAD)
        self.zygotes[False] = Zygote(light, command=command, confine=confine)
        if self.heavy:
            self.zygotes[True] = Zygote(preload, command=command, confine=confine)
        for zygote in self.zygotes.values():
            zygote.warm_up(timeout=120.0)
        self._uids = itertools.cycle(range(16))
        self._uid_base = UID_BASE + (os.getpid() % 100_000) * 16

    def start(self, strategy_dir: Path, *, timeout: float) -> ConfinedWorker:
        strategy_dir = strategy_dir.resolve()
        strategy = bundle(strategy_dir)
        heavy = bool(self.heavy & imported_modules(strategy_dir)) and True in self.zygotes
        zygote = self.zygotes[heavy]
        uid = self._uid_base + next(self._uids)
        pid, wire, err, status = zygote.spawn({"uid": uid}, timeout=timeout)
        assert status is not None
        return ConfinedWorker(
            zygote,
            pid,
            wire,
            err,
            status,
            strategy,
            timeout=timeout,
            output_limit=self.limits["output_kb"] << 10,
        )

    def close(self) -> None:
        for zygote in self.zygotes.values():
            zygote.close()
