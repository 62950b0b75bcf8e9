"""Sandbox backends for the tests: every one that can run on this machine.

bwrap needs bubblewrap (the README's test command installs it); docker needs an engine,
which `podman_engine` starts here from Debian's podman on a private socket.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.sandbox import Sandbox


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
