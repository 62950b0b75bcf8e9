"""Choosing a backend: what auto picks, what it refuses, what doctor says, and the warning
that `none` gives on every run."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.errors import ConfigError, SandboxUnavailable
from bot.sandbox import bwrap_backend, detect, docker_backend, get_sandbox


@pytest.fixture()
def fresh_preflights() -> Iterator[None]:
    bwrap_backend.preflight.cache_clear()
    docker_backend.preflight.cache_clear()
    yield
    bwrap_backend.preflight.cache_clear()
    docker_backend.preflight.cache_clear()


def test_auto_refuses_when_no_backend_works_and_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_preflights: None
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(SandboxUnavailable) as caught:
        detect()
    message = str(caught.value)
    assert "bubblewrap is not installed" in message and "apt-get install bubblewrap" in message
    assert "no Docker engine answers" in message and "--sandbox none" in message
    with pytest.raises(SandboxUnavailable):
        get_sandbox("auto")
    with pytest.raises(SandboxUnavailable, match="the bwrap sandbox cannot run here"):
        get_sandbox("bwrap")


def test_auto_takes_bwrap_when_no_engine_answers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_preflights: None
) -> None:
    if bwrap_backend.preflight():
        pytest.skip(f"bwrap cannot run here: {bwrap_backend.preflight()}")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    assert detect() == "bwrap"
    box = get_sandbox("auto")
    try:
        assert box.name == "bwrap"
    finally:
        box.close()


def test_an_unknown_backend_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="auto, docker, bwrap, none"):
        get_sandbox("chroot")


def test_doctor_reports_every_backend(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_preflights: None
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    result = CliRunner().invoke(cli, ["doctor", "--json"], catch_exceptions=False)
    assert result.exit_code == 0
    report = json.loads(result.output)
    by_name = {b["backend"]: b for b in report["backends"]}
    assert set(by_name) == {"docker", "bwrap", "none"}
    assert not by_name["docker"]["works"] and "no Docker engine" in by_name["docker"]["why_not"]
    assert by_name["none"]["works"]
    assert report["auto"] == ("bwrap" if by_name["bwrap"]["works"] else None)
    text = CliRunner().invoke(cli, ["doctor"], catch_exceptions=False).output
    assert "why not" in text and "`--sandbox auto`" in text


def test_none_warns_on_every_run(seeded_repo: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "-C",
            str(seeded_repo),
            "run",
            "-g",
            "1",
            "-m",
            "1",
            "--sandbox",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "UNCONFINED" in done.stderr


def test_containers_left_by_a_dead_bot_are_swept(request: pytest.FixtureRequest) -> None:
    import socket

    import docker

    engine = request.getfixturevalue("podman_engine")
    client = docker.DockerClient(base_url=engine.url, timeout=60)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = client.containers.create(
        engine.image,
        ["python3", "-c", "pass"],
        labels={
            docker_backend.LABEL: "worker",
            docker_backend.OWNER: f"{socket.gethostname()}:{dead.pid}",
        },
    )
    box = docker_backend.DockerSandbox(base_url=engine.url, image=engine.image)
    try:
        ids = {c.id for c in client.containers.list(all=True)}
        assert left.id not in ids
    finally:
        box.close()
        client.close()
