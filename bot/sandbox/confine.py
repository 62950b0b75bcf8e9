"""Confinement of one worker, done by trusted code inside the sandbox before any strategy code
loads. The zygote forks, and the child calls `isolate()`: new mount, PID, IPC and network
namespaces of its own, so two workers cannot see, signal or talk to each other, and when
the worker's first process ends the kernel ends every process it started. Then, in the
worker: fresh sized tmpfs mounts, the strategy written in and made read-only, resource
limits, an unprivileged uid with no capabilities, and the seccomp filter.

Like `wire.py`, it imports nothing from the bot: the harness loads it by path.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import select
import signal
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import seccomp

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
STRATEGY = "/strategy"
SCRATCH = "/scratch"

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def _die_with_parent() -> None:
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")


def isolate(status_fd: int, keep: list[int]) -> int:
    """Called in the zygote's child. Returns in the worker (the first process of its own
    namespaces); the child itself stays behind as its keeper: it waits for the worker,
    writes how it ended to `status_fd`, and exits. Killing the keeper kills the worker.

    Returns a descriptor that reaches end-of-file when the keeper is gone; `prepare` needs
    it to arm the parent-death signal again after the uid changes (a change of credentials
    clears it)."""
    _die_with_parent()
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET), "unshare")
    alive_r, alive_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(alive_w)
        os.close(status_fd)
        _die_with_parent()
        # the keeper may have died before the signal was armed: then the pipe is at EOF
        if select.select([alive_r], [], [], 0)[0]:
            os._exit(70)
        return alive_r
    os.close(alive_r)
    for fd in keep:
        os.close(fd)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # SIGTERM (the zygote's kill request) ends the worker, and with it its namespace; the
    # keeper then reaps it and reports, so the report's arrival means nothing is left
    signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGKILL))
    os.write(status_fd, exit_report(pid))
    os._exit(0)


def exit_report(pid: int) -> bytes:
    """Reap child `pid` and say how it ended, as the JSON the bot's side reads."""
    _, status = os.waitpid(pid, 0)
    report: dict[str, Any] = {"pid": pid}
    if os.WIFSIGNALED(status):
        report["signal"] = signal.Signals(os.WTERMSIG(status)).name
    else:
        report["exit"] = os.WEXITSTATUS(status)
    return json.dumps(report).encode()


def close_all_but(keep: set[int]) -> None:
    """Close every descriptor the worker inherited from the zygote except `keep`."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _safe_relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"refused a strategy file path {name!r}")
    return path


def prepare(
    limits: dict[str, int], uid: int, bundle: tuple[dict[str, Any], bytes], keeper: int
) -> Path:
    """In the worker, still privileged inside the sandbox: mounts, the strategy's files,
    limits, then the drop to `uid` with no capabilities, and the seccomp filter."""
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    owner = f"uid={uid},gid={uid}" if os.getuid() == 0 else ""
    tmp_flags = MS_NOSUID | MS_NODEV
    for target, size_mb, mode in (
        (SCRATCH, limits["scratch_mb"], "0700"),
        ("/tmp", limits["tmp_mb"], "1777"),
        ("/dev/shm", limits["shm_mb"], "1777"),
    ):
        data = f"size={size_mb}m,nr_inodes=4096,mode={mode}" + (f",{owner}" if owner else "")
        mount("tmpfs", target, "tmpfs", tmp_flags, data)
    header, payload = bundle
    mount(
        "tmpfs", STRATEGY, "tmpfs", tmp_flags, f"size={max(1, len(payload) >> 20) + 1}m,mode=0755"
    )
    offset = 0
    for entry in header.get("files", []):
        relative = _safe_relative(str(entry["path"]))
        size = int(entry["size"])
        target_path = Path(STRATEGY, relative)
        target_path.parent.mkdir(parents=True, exist_ok=True)
        target_path.write_bytes(payload[offset : offset + size])
        offset += size
    mount("none", STRATEGY, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir(STRATEGY)
    _limits(limits)
    _drop(uid)
    _die_with_parent()  # cleared by the change of uid
    if select.select([keeper], [], [], 0)[0]:  # the keeper died in between
        os._exit(70)
    os.close(keeper)
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    seccomp.install()
    return Path(STRATEGY)


def _limits(limits: dict[str, int]) -> None:
    def cap(which: int, value: int) -> None:
        soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))

    cpu = limits["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
    # address space: what the zygote already mapped (numpy, torch) plus the memory budget
    with open("/proc/self/statm") as statm:
        mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    cap(resource.RLIMIT_AS, mapped + (limits["memory_mb"] << 20))
    cap(resource.RLIMIT_FSIZE, limits["scratch_mb"] << 20)
    cap(resource.RLIMIT_NOFILE, limits["open_files"])
    if "processes" in limits:  # containers count processes in their cgroup instead
        cap(resource.RLIMIT_NPROC, limits["processes"])
    cap(resource.RLIMIT_CORE, 0)
    cap(resource.RLIMIT_MEMLOCK, 0)
    cap(resource.RLIMIT_MSGQUEUE, 0)


def _drop(uid: int) -> None:
    """No capabilities, no way back. As root inside the sandbox (the bot runs as root, and
    bwrap without a user namespace keeps it root): become `uid`, which drops every
    capability and makes the resource limits bind. Otherwise (a user namespace, the uid
    already the user's own): clear the bounding, ambient and permitted sets."""
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    last_cap = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for cap in range(last_cap + 1):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    if os.getuid() == 0:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    else:
        _clear_capabilities()
    if _effective_capabilities() != 0:
        raise PermissionError("capabilities survived the drop; refusing to run the strategy")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _clear_capabilities() -> None:
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")


def _effective_capabilities() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return -1


if __name__ == "__main__":  # pragma: no cover - loaded by path only
    sys.exit("confine.py is a library for the zygote")
