"""Sandbox backends for the tests: every one that can run on this machine.

bwrap needs bubblewrap (the README's test command installs it); docker needs an engine,
which `podman_engine` starts here from Debian's podman on a private socket.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bot.sandbox import Sandbox
from tests.conftest import ROOT


@dataclass(frozen=True)
class Engine:
    url: str
    image: str


@pytest.fixture(scope="session")
def podman_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """podman's Docker-compatible API on a private socket, with the worker image built
    from benchmarks/sandbox/Dockerfile on this machine's Python. It stops by itself after
    two idle minutes if the tests are killed."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (the README's test command installs it)")
    from bot.sandbox.image import build_worker_image
    from bot.sandbox.podman import start_service

    try:
        service, url = start_service(tmp_path_factory.mktemp("podman"))
    except RuntimeError as exc:
        pytest.fail(str(exc))
    import docker

    client = docker.DockerClient(base_url=url, timeout=120)
    image = build_worker_image(client, ROOT / "benchmarks" / "sandbox", tag="augnes-worker:test")
    client.close()
    yield Engine(url, image)
    service.terminate()
    service.wait(timeout=30)


def open_backend(name: str, request: pytest.FixtureRequest) -> Sandbox:
    if name == "bwrap":
        from bot.sandbox.bwrap_backend import BwrapSandbox, preflight

        why = preflight()
        if why:
            pytest.skip(f"bwrap cannot run here: {why}")
        return BwrapSandbox(limits={"output_kb": 256})
    from bot.sandbox.docker_backend import DockerSandbox

    engine = request.getfixturevalue("podman_engine")
    return DockerSandbox(limits={"output_kb": 256}, base_url=engine.url, image=engine.image)


@pytest.fixture(scope="session", params=["bwrap", "docker"])
def confined(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """Each confining backend in turn, opened once for the session."""
    box = open_backend(request.param, request)
    yield box
    box.close()
