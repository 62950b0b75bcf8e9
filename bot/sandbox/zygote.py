"""The zygote: a process that imports the heavy libraries strategies use (numpy, torch) once,
then forks one fresh worker per evaluation, so a worker starts in milliseconds, not seconds.

It only imports libraries before forking; untrusted strategy code is loaded in the forked
child alone. Requests arrive on a SOCK_SEQPACKET socket (fd 0) with the child's pipe ends
attached (wire in, wire out, stderr, and when confined a status pipe); the reply is the
child's pid. The zygote dies with the bot (end of file on its control socket), and every
child dies with the zygote (parent-death signal).

With `--confine <json>` (inside bubblewrap), each child first isolates itself (confine.py):
its own namespaces, the strategy's files read from the wire into a read-only tmpfs, limits,
an unprivileged uid and the seccomp filter. Such children are ended by a `kill` request,
since their pids mean nothing outside the sandbox.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import select
import signal
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

from wire import FrameReader, WireError  # noqa: E402
from worker import serve  # noqa: E402

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _child(request: dict, fds: list[int], parent: int) -> int:  # type: ignore[type-arg]
    os.setsid()
    die_with_parent()
    if os.getppid() != parent:  # the zygote died before the signal was armed
        return 70
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    wire_in, wire_out, err = fds
    os.dup2(err, 2)
    os.dup2(err, 1)
    os.close(err)
    strategy_dir = Path(request["strategy_dir"])
    os.chdir(strategy_dir)
    code: int = serve(strategy_dir, wire_in, wire_out)
    return code


def _confined_child(request: dict, fds: list[int], limits: dict) -> int:  # type: ignore[type-arg]
    import confine

    wire_in, wire_out, err, status = fds
    os.dup2(err, 2)
    os.dup2(err, 1)
    os.close(err)
    keeper = confine.isolate(status, keep=[wire_in, wire_out, 1, 2])  # returns in the worker
    confine.close_all_but({1, 2, wire_in, wire_out, keeper})
    reader = FrameReader(wire_in)
    try:
        bundle = reader.read()
        strategy_dir = confine.prepare(limits, int(request["uid"]), bundle, keeper)
    except (WireError, OSError, ValueError, KeyError) as exc:
        with contextlib.suppress(OSError):
            os.write(2, f"sandbox set-up failed: {exc}\n".encode())
        return 71
    code: int = serve(strategy_dir, wire_in, wire_out, reader)
    return code


def main() -> int:
    # No parent-death signal here: it would fire when the *thread* that started the zygote
    # ends. The zygote notices the bot's death as end-of-file on its control socket instead.
    args = sys.argv[1:]
    limits = None
    if args[:1] == ["--confine"]:
        limits = json.loads(args[1])
        args = args[2:]
    for name in args:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    control = socket.socket(fileno=0)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the children
    control.send(json.dumps({"op": "ready", "pid": os.getpid()}).encode())
    me = os.getpid()
    wanted = 3 if limits is None else 4
    keepers: dict[int, int] = {}  # pid -> pidfd of each confined child
    while True:
        message, fds, _, _ = socket.recv_fds(control, 65536, wanted)
        if not message:
            return 0
        request = json.loads(message)
        if keepers:  # forget keepers that have exited (a pidfd turns readable then)
            gone, _, _ = select.select(list(keepers.values()), [], [], 0)
            for pid in [p for p, fd in keepers.items() if fd in gone]:
                os.close(keepers.pop(pid))
        if request.get("op") == "kill":
            hard = request.get("signal") == "SIGKILL"
            pid = int(request["pid"])
            pidfd = keepers.pop(pid, None) if hard else keepers.get(pid)
            if pidfd is not None:
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL if hard else signal.SIGTERM)
                if hard:
                    os.close(pidfd)
            continue
        if len(fds) != wanted:
            for fd in fds:
                os.close(fd)
            control.send(json.dumps({"error": f"{wanted} file descriptors expected"}).encode())
            continue
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                control.close()
                for pidfd in keepers.values():
                    os.close(pidfd)
                if limits is None:
                    code = _child(request, fds, me)
                else:
                    code = _confined_child(request, fds, limits)
            finally:
                os._exit(code)
        for fd in fds:
            os.close(fd)
        if limits is not None:
            keepers[pid] = os.pidfd_open(pid)
        control.send(json.dumps({"pid": pid}).encode())


if __name__ == "__main__":
    sys.exit(main())
