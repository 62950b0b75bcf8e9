"""The seccomp filter: its table against the kernel's, and its verdicts in a real process."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.sandbox import seccomp

HEADER = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
HARNESS = Path(seccomp.__file__).parent


def test_syscall_numbers_match_the_kernel_headers() -> None:
    if not HEADER.is_file():
        pytest.skip("the kernel's x86_64 headers (linux-libc-dev) are not installed")
    table = dict(re.findall(r"#define __NR_(\w+) (\d+)", HEADER.read_text()))
    for name, number in {**seccomp.KILL, **seccomp.REFUSE}.items():
        if name in table:
            assert int(table[name]) == number, name
    assert int(table["clone"]) == seccomp.CLONE
    assert int(table["clone3"]) == seccomp.CLONE3
    assert int(table["socket"]) == seccomp.SOCKET


def filtered(code: str) -> subprocess.CompletedProcess[str]:
    prelude = (
        f"import sys; sys.path.insert(0, {str(HARNESS)!r}); import seccomp; seccomp.install()\n"
    )
    return subprocess.run(
        [sys.executable, "-I", "-c", prelude + code], capture_output=True, text=True, timeout=60
    )


def test_ordinary_work_runs_under_the_filter() -> None:
    done = filtered(
        "import os, socket, threading, numpy, subprocess\n"
        "a, b = socket.socketpair(); a.send(b'x'); assert b.recv(1) == b'x'\n"
        "t = threading.Thread(target=print); t.start(); t.join()\n"
        "pid = os.fork()\n"
        "os._exit(0) if pid == 0 else os.waitpid(pid, 0)\n"
        "assert subprocess.run(['true']).returncode == 0\n"
        "print(int(numpy.arange(4).sum()))\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("6")


@pytest.mark.parametrize(
    "code",
    [
        "import socket; socket.socket(socket.AF_INET)",
        "import socket; socket.socket(socket.AF_INET6)",
        "import socket; socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)",
        "import ctypes; ctypes.CDLL(None).unshare(0x10000000)",
        "import ctypes; ctypes.CDLL(None).mount(b'none', b'/mnt', b'tmpfs', 0, None)",
        "import ctypes; ctypes.CDLL(None).ptrace(16, 1, None, None)",
        "import ctypes; ctypes.CDLL(None).syscall(56, 0x10000000 | 17, 0, 0, 0, 0)",
    ],
)
def test_forbidden_calls_kill_the_process(code: str) -> None:
    done = filtered(code + "\nprint('survived')")
    assert done.returncode == -signal.SIGSYS, (done.stdout, done.stderr)
    assert "survived" not in done.stdout


def test_new_namespace_flags_on_clone3_are_refused_politely() -> None:
    done = filtered(
        "import ctypes; libc = ctypes.CDLL(None, use_errno=True)\n"
        "print(libc.syscall(435, None, 0), ctypes.get_errno())"
    )
    assert done.returncode == 0
    assert done.stdout.split() == ["-1", "38"]  # ENOSYS: libc falls back to clone
