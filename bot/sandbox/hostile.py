"""Hostile strategies: what a strategy must not be able to do, written as strategies.

The tests run each against every sandbox backend available, `augnes doctor --hostile` runs
them on demand, and `benchmarks/perf/sandbox.py` times how long each takes to contain.
Each payload is a whole `policy.py`; its `params.json` carries what the attack needs to
know (a port, a path, a canary), as an attacker who had read this repository would.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LEFTOVER_NAME = "augnes-leftover"  # the comm name the leftover payload's daemon takes


@dataclass(frozen=True)
class Payload:
    name: str
    what: str
    source: str
    expected: tuple[str, ...]  # the failure kinds that count as contained
    at: str = "init"  # when the attack runs: "init" (policy set-up) or "act" (a step)
    params: dict[str, Any] = field(default_factory=dict)


_ACT = """
class Policy:
    def __init__(self, spec):
        self.spec = spec

    def act(self, obs):
        attack(self.params)
        return np.zeros(len(obs), dtype=np.int64)


def make_policy(params, spec):
    policy = Policy(spec)
    policy.params = params
    return policy
"""
_INIT = """
def make_policy(params, spec):
    attack(params)
    raise RuntimeError("the attack returned without being stopped")
"""


def _payload(
    name: str, what: str, body: str, expected: tuple[str, ...], at: str = "init"
) -> Payload:
    tail = _ACT if at == "act" else _INIT
    source = (
        "import numpy as np\n\n" + textwrap.dedent(body).strip() + "\n\n" + textwrap.dedent(tail)
    )
    return Payload(name, what, source, expected, at)


PAYLOADS = [
    _payload(
        "network-loopback",
        "connect to a TCP server the bot's side listens on at 127.0.0.1",
        """
        import socket

        def attack(params):
            s = socket.create_connection(("127.0.0.1", params["port"]), timeout=3)
            s.sendall(b"escaped")
        """,
        ("sandbox_violation",),
    ),
    _payload(
        "network-abstract-unix",
        "connect to an abstract Unix socket the bot's side listens on",
        """
        import socket

        def attack(params):
            s = socket.socket(socket.AF_UNIX)
            s.connect("\\0" + params["abstract"])
            s.sendall(b"escaped")
        """,
        ("crash", "sandbox_violation"),
    ),
    _payload(
        "secrets",
        "read the bot's environment, credentials files, .git/config and root-only files",
        """
        import glob, os

        def attack(params):
            found = {}
            for name, value in os.environ.items():
                found["env:" + name] = value
            paths = list(params["paths"]) + glob.glob("/proc/*/environ") + [
                os.path.expanduser("~/.git-credentials"), "/root/.git-credentials",
                "/etc/shadow", "/proc/1/cmdline",
            ]
            for path in paths:
                try:
                    with open(path, "rb") as f:
                        found[path] = f.read(4096).decode(errors="replace")
                except OSError as exc:
                    found[path] = type(exc).__name__
            raise PermissionError(13, "what it could read: " + repr(found)[:3000])
        """,
        ("sandbox_violation",),
    ),
    _payload(
        "write-outside",
        "write to the host tree, its own code, the harness, system folders and /proc",
        """
        import os

        def attack(params):
            wrote = []
            for path in list(params["paths"]) + [
                "/strategy/policy.py", "/strategy/new.py", "/augnes/harness/worker.py",
                "/usr/lib/augnes-owned", "/etc/passwd", "/proc/sys/kernel/hostname",
                "/root/augnes-owned", "/augnes-owned",
            ]:
                try:
                    with open(path, "a") as f:
                        f.write("owned")
                    wrote.append(path)
                except OSError:
                    pass
            for ok in ("/scratch/x", "/tmp/x", "/dev/shm/x"):
                try:
                    with open(ok, "w") as f:
                        f.write("fine")
                except OSError as exc:
                    raise RuntimeError(f"its own scratch folder {ok} is not writable: {exc}")
            if wrote:
                raise RuntimeError("escaped: wrote " + repr(wrote))
            raise PermissionError(13, "every write outside the scratch folders was refused")
        """,
        ("sandbox_violation",),
    ),
    _payload(
        "mount",
        "mount a filesystem over its own code",
        """
        import ctypes

        def attack(params):
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.mount(b"tmpfs", b"/strategy", b"tmpfs", 0, None) != 0:
                raise PermissionError(ctypes.get_errno(), "mount refused")
        """,
        ("sandbox_violation",),
    ),
    _payload(
        "unshare",
        "make a new user namespace to regain capabilities",
        """
        import ctypes

        def attack(params):
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(0x10000000) != 0:
                raise PermissionError(ctypes.get_errno(), "unshare refused")
        """,
        ("sandbox_violation",),
    ),
    _payload(
        "ptrace",
        "attach to its parent to read or change its memory",
        """
        import ctypes, os

        def attack(params):
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.ptrace(16, os.getppid() or 1, None, None) != 0:
                raise PermissionError(ctypes.get_errno(), "ptrace refused")
        """,
        ("sandbox_violation",),
    ),
    _payload(
        "fork-bomb",
        "fork until the machine runs out of processes",
        """
        import os, time

        def attack(params):
            while True:
                if os.fork() == 0:
                    while True:
                        try:
                            os.fork()
                        except OSError:
                            time.sleep(1000)
        """,
        ("resource_limit",),
    ),
    _payload(
        "memory",
        "allocate and touch 8 GiB",
        """
        def attack(params):
            block = bytearray(8 << 30)
            for i in range(0, len(block), 4096):
                block[i] = 1
        """,
        ("memory",),
    ),
    *(
        _payload(
            f"disk-{name}",
            f"fill {folder}",
            f"""
            def attack(params):
                with open("{folder}/fill", "wb") as f:
                    while True:
                        f.write(b"x" * (1 << 20))
            """,
            ("disk_limit",),
        )
        for name, folder in (("scratch", "/scratch"), ("tmp", "/tmp"), ("shm", "/dev/shm"))
    ),
    _payload(
        "cpu-spin",
        "spin the CPU instead of answering",
        """
        def attack(params):
            while True:
                pass
        """,
        ("timeout",),
        at="act",
    ),
    _payload(
        "sleep-ignoring-sigterm",
        "ignore SIGTERM and sleep past every limit",
        """
        import signal, time

        def attack(params):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            time.sleep(10**6)
        """,
        ("timeout",),
        at="act",
    ),
    _payload(
        "output-flood",
        "flood its output",
        """
        import sys

        def attack(params):
            while True:
                sys.stderr.write("x" * 65536)
                sys.stderr.flush()
        """,
        ("output_limit",),
    ),
    _payload(
        "file-descriptors",
        "open files until none are left",
        """
        def attack(params):
            held = []
            while True:
                held.append(open("/dev/null"))
        """,
        ("resource_limit",),
    ),
    _payload(
        "leftover-process",
        "leave a daemon behind that outlives its evaluation",
        """
        import ctypes, os, time

        def attack(params):
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    ctypes.CDLL(None).prctl(15, params["leftover_name"].encode(), 0, 0, 0)
                    while True:
                        time.sleep(1)
                os._exit(0)
            time.sleep(0.2)
            raise PermissionError(1, "a daemon was started")
        """,
        ("sandbox_violation",),
    ),
]
BY_NAME = {p.name: p for p in PAYLOADS}


def write_strategy(folder: Path, payload: Payload, params: dict[str, Any]) -> Path:
    """Lay `payload` out as a strategy folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "strategy.toml").write_text(
        f'name = "{folder.name}"\nfamily = "hostile"\nentry = "policy.py:make_policy"\n',
        encoding="utf-8",
    )
    (folder / "params.json").write_text(
        json.dumps({"leftover_name": LEFTOVER_NAME, **params}) + "\n", encoding="utf-8"
    )
    (folder / "policy.py").write_text(payload.source, encoding="utf-8")
    return folder


def leftover_pids() -> list[int]:
    """Processes on this machine that the leftover payload's daemon started."""
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == LEFTOVER_NAME:
                pids.append(int(comm.parent.name))
        except OSError:
            continue
    return pids


@dataclass(frozen=True)
class Outcome:
    payload: str
    kind: str | None  # the failure the judgment records; None when nothing failed
    seconds: float  # from the evaluation's start until the failure was recorded
    message: str


def run_all(sandbox: Any, backend: str, folder: Path) -> list[dict[str, Any]]:
    """Every payload against one open sandbox, as rows of a report (doctor, benchmark)."""
    rows = []
    for payload in PAYLOADS:
        strategy = write_strategy(
            folder / backend / payload.name,
            payload,
            {"port": 9, "abstract": "augnes-hostile", "paths": ["/etc/hostname"]},
        )
        outcome = contain(sandbox, strategy, payload, reply_timeout=3.0)
        rows.append(
            {
                "payload": payload.name,
                "backend": backend,
                "outcome": outcome.kind,
                "contained": outcome.kind in payload.expected,
                "seconds": round(outcome.seconds, 3),
            }
        )
    return rows


def contain(sandbox: Any, folder: Path, payload: Payload, *, reply_timeout: float = 3.0) -> Outcome:
    """Evaluate the hostile strategy in `folder` on one short CartPole episode, the way the
    loop evaluates a candidate, and report how it ended."""
    import time

    from bot.evaluator import EnvPool, Session
    from bot.goals import Goal

    goal = Goal(
        goal_id="cartpole",
        env_id="CartPole-v1",
        min_reward=0,
        optimal_reward=500,
        episodes=1,
        max_steps=20,
    )
    pool = EnvPool()
    started = time.perf_counter()
    try:
        with Session(
            sandbox, folder, pool, reply_timeout=reply_timeout, start_timeout=30
        ) as session:
            episodes = session.run([(goal, [0], 0)])
            seconds = time.perf_counter() - started
            kind, message = session.last_failure or (None, "")
    finally:
        pool.close()
    kind = episodes[0].failure if episodes else kind
    return Outcome(payload.name, kind, seconds, message)
