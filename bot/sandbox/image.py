"""The worker image for the docker backend, built where no registry is reachable.

`benchmarks/sandbox/Dockerfile` normally starts from the official Python image. Offline,
its BASE is made from this machine's own Python instead: the interpreter and standard
library, the packages strategies import, and the shared libraries they link (found with ldd), imported
as an image: no shell, no tools. Then the Dockerfile is built on top, as on any machine.
"""

from __future__ import annotations

import importlib.util
import io
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

BASE_TAG = "augnes-python:host"
SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "__pycache__", "site-packages"}
SHARED = {"tmp": 0o1777, "scratch": 0o1777}
MOUNT_POINTS = ("/tmp", "/scratch", "/strategy", "/augnes/harness", "/augnes/io", "/proc", "/dev")


def _package_paths(names: Iterable[str]) -> list[Path]:
    paths = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(f"package {name!r} is not installed here")
        folder = Path(next(iter(spec.submodule_search_locations))).resolve()
        paths.append(folder)
        libs = folder.parent / f"{name}.libs"  # wheels' vendored shared libraries
        if libs.is_dir():
            paths.append(libs)
    return paths


def _linked(binaries: Iterable[Path]) -> set[Path]:
    """Shared libraries the binaries need, as ldd resolves them on this machine."""
    found: set[Path] = set()
    for binary in binaries:
        done = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
        for match in re.finditer(r"(/\S+\.so[.\d]*) \(0x", done.stdout):
            path = Path(match.group(1))
            found.add(path)
            found.add(path.resolve())
    return found


def host_rootfs(target: Path, packages: Iterable[str] = ("numpy",)) -> Path:
    """Write a tar of a minimal root filesystem with this machine's Python to `target`."""
    prefix = Path(sys.base_prefix).resolve()
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    stdlib = prefix / "lib" / version
    site = stdlib / "site-packages"
    python = Path(sys.executable).resolve()
    package_dirs = _package_paths(packages)
    binaries = [python, *prefix.glob("lib/libpython*.so*")]
    binaries += list((stdlib / "lib-dynload").glob("*.so"))
    for folder in package_dirs:
        binaries += [p for p in folder.rglob("*.so*") if p.is_file()]
    with tarfile.open(target, "w") as tar:
        seen: set[str] = set()  # an image layer may not hold a path twice

        def add_dir(name: str) -> None:
            info = tarfile.TarInfo(name.lstrip("/"))
            # podman copies a folder's mode onto the tmpfs mounted over it
            info.type, info.mode = tarfile.DIRTYPE, SHARED.get(info.name, 0o755)
            if info.name not in seen:
                seen.add(info.name)
                tar.addfile(info)

        def add_link(name: str, to: str) -> None:
            info = tarfile.TarInfo(name.lstrip("/"))
            info.type, info.linkname = tarfile.SYMTYPE, to
            if info.name not in seen:
                seen.add(info.name)
                tar.addfile(info)

        made: set[str] = set()

        def parents(path: Path) -> None:
            for parent in reversed(path.parents[:-1]):
                if str(parent) not in made:
                    made.add(str(parent))
                    add_dir(str(parent))

        def keep(
            info: tarfile.TarInfo, skip: set[str] = SKIP - {"site-packages"}
        ) -> tarfile.TarInfo | None:
            parts = set(Path(info.name).parts)
            if parts & skip or info.name.endswith(".pyc") or info.name in seen:
                return None
            seen.add(info.name)
            if info.isdir():
                info.mode |= 0o755
            return info

        for top in ("usr", "usr/lib", "usr/bin", "usr/local", "usr/local/bin", "etc", "augnes"):
            made.add("/" + top)
            add_dir(top)
        add_link("/bin", "usr/bin")
        add_link("/lib", "usr/lib")
        add_link("/lib64", "usr/lib64")
        made.add("/usr/lib64")
        add_dir("usr/lib64")
        for point in MOUNT_POINTS:
            parents(Path(point) / "x")

        parents(prefix)
        tar.add(prefix, arcname=str(prefix).lstrip("/"), filter=lambda i: keep(i, SKIP))
        add_dir(str(site))
        for folder in package_dirs:
            tar.add(folder, arcname=str(site / folder.name).lstrip("/"), filter=keep)
        for lib in sorted(_linked(binaries)):
            real = "/usr" + str(lib) if str(lib).startswith(("/lib/", "/lib64/")) else str(lib)
            if real.startswith(str(prefix)) or any(real.startswith(str(d)) for d in package_dirs):
                continue
            parents(Path(real))
            tar.add(lib, arcname=real.lstrip("/"), filter=keep)
        add_link("/usr/local/bin/python3", str(python))
        passwd = b"root:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size, info.mode = len(passwd), 0o644
        tar.addfile(info, io.BytesIO(passwd))
    return target


def build_worker_image(
    client: Any,
    dockerfile_dir: Path,
    *,
    tag: str = "augnes-worker:latest",
    packages: Iterable[str] = ("numpy",),
) -> str:
    """Import this machine's Python as BASE_TAG, then build `dockerfile_dir`'s Dockerfile
    on it as `tag`. Returns the tag."""
    with tempfile.TemporaryDirectory(prefix="augnes-rootfs-") as tmp:
        tar = host_rootfs(Path(tmp) / "rootfs.tar", packages)
        repository, _, version = BASE_TAG.partition(":")
        answer = client.api.import_image_from_file(str(tar), repository=repository, tag=version)
    ids = re.findall(r'"(sha256:[0-9a-f]{64})"', str(answer))
    if not ids:
        raise RuntimeError(f"the engine did not say which image it imported: {answer!r:.300}")
    client.images.get(ids[-1]).tag(repository, version)  # podman ignores the tag on import
    # podman names it localhost/augnes-python:host, Docker augnes-python:host
    base = next(
        t for image in client.images.list() for t in image.tags if t.split("/")[-1] == BASE_TAG
    )
    client.images.build(
        path=str(dockerfile_dir),
        tag=tag,
        buildargs={"BASE": base, "REQUIREMENTS": ""},
        rm=True,
        pull=False,
    )
    # each import leaves the previous base untagged: do not let them pile up
    client.images.prune(filters={"dangling": True})
    return tag
