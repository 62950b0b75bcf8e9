"""PID 1 of a worker container: a small trusted supervisor, then the worker it forks.

It connects three times to the Unix socket the bot listens on (mounted at /augnes/io):
a lifeline, the wire and the worker's stderr, each announced by one byte. The worker child
sets its resource limits and the seccomp filter, then serves the strategy mounted read-only
at /strategy. The supervisor waits for whichever comes first: the worker's end, which it
reports on the lifeline as JSON, or the lifeline's end of file (the bot is gone), on which
it exits. Either way PID 1 exits, and the kernel ends every process left in the container.

Like `wire.py`, it imports nothing from the bot: the harness is mounted at /augnes/harness.
"""

from __future__ import annotations

import json
import os
import select
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import confine  # noqa: E402
import seccomp  # noqa: E402
from worker import serve  # noqa: E402

SOCKET = "/augnes/io/wire.sock"
STRATEGY = Path("/strategy")


def _connect(tag: bytes) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(SOCKET)
    sock.sendall(tag)
    return sock


def _worker(limits: dict[str, int], wire: socket.socket, err: socket.socket) -> int:
    confine._die_with_parent()
    os.dup2(err.fileno(), 2)
    os.dup2(err.fileno(), 1)
    err.close()
    fd = wire.detach()
    confine.close_all_but({1, 2, fd})
    confine._limits(limits)
    if seccomp.supported() is None:  # elsewhere the engine's own profile is the filter
        seccomp.install()
    os.chdir(STRATEGY)
    code: int = serve(STRATEGY, fd, fd)
    return code


def main() -> int:
    limits = json.loads(sys.argv[1])
    lifeline = _connect(b"L")
    wire = _connect(b"W")
    err = _connect(b"E")
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            lifeline.close()
            code = _worker(limits, wire, err)
        finally:
            os._exit(code)
    wire.close()
    err.close()
    pidfd = os.pidfd_open(pid)
    while True:
        ready, _, _ = select.select([lifeline.fileno(), pidfd], [], [])
        if pidfd in ready:
            lifeline.sendall(confine.exit_report(pid))
            return 0
        if not lifeline.recv(4096):  # the bot went away
            return 0


if __name__ == "__main__":
    sys.exit(main())
