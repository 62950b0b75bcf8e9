"""The hostile suite: each attack, as a strategy, against every confining backend.

An attack must end its evaluation with the failure kind the judgment records for it, leave
the host as it was, and leave no process behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.sandbox import Sandbox
from bot.sandbox.hostile import BY_NAME, PAYLOADS, Outcome, contain, leftover_pids, write_strategy
from tests.conftest import ROOT

CANARY = "augnes-canary-7f3e2a"


@pytest.fixture(scope="module")
def listeners() -> Iterator[dict[str, object]]:
    """A TCP server on 127.0.0.1 and an abstract Unix socket, on the bot's side."""
    tcp = socket.create_server(("127.0.0.1", 0))
    tcp.setblocking(False)
    abstract = f"augnes-test-{os.getpid()}"
    unix = socket.socket(socket.AF_UNIX)
    unix.bind("\0" + abstract)
    unix.listen()
    unix.setblocking(False)
    yield {"tcp": tcp, "port": tcp.getsockname()[1], "unix": unix, "abstract": abstract}
    tcp.close()
    unix.close()


@pytest.fixture()
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Secrets and files on the bot's side: a token in its environment, a root-only file,
    credentials, and a repository with its config, hooks and lineage."""
    monkeypatch.setenv("GITHUB_TOKEN", CANARY)
    monkeypatch.setenv("AUGNES_PRIVATE_KEY", CANARY)
    secret = tmp_path / "root-only"
    secret.write_text(CANARY)
    secret.chmod(0o600)
    credentials = Path(os.environ["HOME"]) / ".git-credentials"
    credentials.write_text(f"https://bot:{CANARY}@github.com\n")
    repo = tmp_path / "repo"
    (repo / ".git" / "hooks").mkdir(parents=True)
    (repo / ".git" / "config").write_text(f"[http]\n\textraheader = token {CANARY}\n")
    (repo / "lineage").mkdir()
    (repo / "lineage" / "judgments.jsonl").write_text('{"reward": 1}\n')
    return {"secret": secret, "credentials": credentials, "repo": repo}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def attack(confined: Sandbox, tmp_path: Path, name: str, params: dict[str, object]) -> Outcome:
    payload = BY_NAME[name]
    folder = write_strategy(tmp_path / "hostile" / name, payload, params)
    before = snapshot(folder)
    outcome = contain(confined, folder, payload, reply_timeout=3.0)
    assert snapshot(folder) == before, "the strategy's own folder changed on the host"
    return outcome


@pytest.mark.parametrize("name", [p.name for p in PAYLOADS])
def test_each_attack_is_contained_and_classified(
    confined: Sandbox,
    tmp_path: Path,
    name: str,
    host: dict[str, Path],
    listeners: dict[str, object],
) -> None:
    repo = host["repo"]
    targets = [
        host["secret"],
        host["credentials"],
        repo / ".git" / "config",
        repo / ".git" / "hooks" / "post-checkout",
        repo / "lineage" / "judgments.jsonl",
    ]
    before = {str(p): p.read_bytes() if p.exists() else None for p in targets}
    outcome = attack(
        confined,
        tmp_path,
        name,
        {
            "port": listeners["port"],
            "abstract": listeners["abstract"],
            "paths": [str(p) for p in targets],
        },
    )
    assert outcome.kind in BY_NAME[name].expected, outcome
    assert CANARY not in outcome.message
    after = {str(p): p.read_bytes() if p.exists() else None for p in targets}
    assert after == before, "a file on the host changed"
    for key in ("tcp", "unix"):
        server = listeners[key]
        assert isinstance(server, socket.socket)
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected
    deadline = time.monotonic() + 5
    while leftover_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftover_pids() == []


def test_the_secrets_attack_reads_only_what_the_sandbox_gives(
    confined: Sandbox, tmp_path: Path, host: dict[str, Path]
) -> None:
    outcome = attack(
        confined, tmp_path, "secrets", {"paths": [str(host["secret"]), str(host["credentials"])]}
    )
    assert "what it could read" in outcome.message  # the attack ran and reported
    assert "env:PATH" in outcome.message and "GITHUB_TOKEN" not in outcome.message
    assert CANARY not in outcome.message


KILLED_BOT = """
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from bot.sandbox.hostile import BY_NAME, write_strategy
from tests.conftest import Engine
from tests.sandbox.conftest import open_backend

class Request:
    def getfixturevalue(self, name):
        return Engine({url!r}, {image!r})

box = open_backend({backend!r}, Request())
folder = write_strategy(Path({folder!r}), BY_NAME["leftover-process"], {{}})
worker = box.start(folder, timeout=30)
try:
    worker.call({{"op": "init", "spec": {{"goal_id": "x"}}}}, timeout=5)
except Exception:
    pass
print("started", flush=True)
time.sleep(60)
"""


def test_nothing_survives_the_bot_being_killed(
    confined: Sandbox, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = image = ""
    if confined.name == "docker":
        engine = request.getfixturevalue("podman_engine")
        url, image = engine.url, engine.image
    script = KILLED_BOT.format(
        root=str(ROOT), backend=confined.name, url=url, image=image, folder=str(tmp_path / "s")
    )
    bot = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE, text=True
    )
    assert bot.stdout is not None
    assert bot.stdout.readline().strip() == "started"
    assert leftover_pids(), "the daemon should be running while the bot lives"
    bot.send_signal(signal.SIGKILL)
    bot.wait()
    deadline = time.monotonic() + 20
    while leftover_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftover_pids() == []
