"""The zygote: a process that imports the heavy libraries strategies use (numpy, torch) once,
then forks one fresh worker per evaluation, so a worker starts in milliseconds, not seconds.

It only imports libraries before forking; untrusted strategy code is loaded in the forked
child alone. Requests arrive on a SOCK_SEQPACKET socket (fd 0) with the child's three pipe
ends attached (wire in, wire out, stderr); the reply is the child's pid. The zygote dies with
the bot (end of file on its control socket), and every child dies with the zygote
(parent-death signal).
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import signal
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

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


def main() -> int:
    # No parent-death signal here: it would fire when the *thread* that started the zygote
    # ends. The zygote notices the bot's death as end-of-file on its control socket instead.
    for name in sys.argv[1:]:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    control = socket.socket(fileno=0)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the children
    control.send(json.dumps({"op": "ready", "pid": os.getpid()}).encode())
    me = os.getpid()
    while True:
        message, fds, _, _ = socket.recv_fds(control, 65536, 3)
        if not message:
            return 0
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            control.send(b'{"error": "three file descriptors expected"}')
            continue
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                control.close()
                code = _child(json.loads(message), fds, me)
            finally:
                os._exit(code)
        for fd in fds:
            os.close(fd)
        control.send(json.dumps({"pid": pid}).encode())


if __name__ == "__main__":
    sys.exit(main())
