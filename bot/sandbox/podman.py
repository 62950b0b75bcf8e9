"""A private podman service speaking the Docker Engine API, for machines without Docker.

Used by the tests and the sandbox benchmark; users can run the same by hand (README). It
listens on a Unix socket in a folder of the caller's, and stops by itself once idle.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

# runc, not crun (which fails on some machines' cgroups), and ulimits within the hard limits
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
"""


def start_service(folder: Path, *, idle_seconds: int = 120) -> tuple[subprocess.Popen[bytes], str]:
    """Start `podman system service` on `folder/podman.sock`; returns the process and the
    Docker API URL once the engine answers. Raises RuntimeError with its output if not."""
    podman = shutil.which("podman")
    if podman is None:
        raise RuntimeError("podman is not installed (augnes doctor --install podman)")
    conf = folder / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    url = f"unix://{folder / 'podman.sock'}"
    service = subprocess.Popen(
        [podman, "system", "service", f"--time={idle_seconds}", url],
        env={**os.environ, "CONTAINERS_CONF": str(conf)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    import docker

    deadline = time.monotonic() + 30
    while True:
        try:
            client = docker.DockerClient(base_url=url, timeout=30)
            client.ping()
            client.close()
            return service, url
        except Exception:
            if time.monotonic() > deadline or service.poll() is not None:
                service.kill()
                _, err = service.communicate()
                raise RuntimeError(
                    f"podman system service did not answer: {err.decode()[-1000:]}"
                ) from None
            time.sleep(0.2)
