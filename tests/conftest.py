"""Shared fixtures: real git repositories in temporary folders, with pinned identities."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Person",
    "GIT_AUTHOR_EMAIL": "person@example.com",
    "GIT_COMMITTER_NAME": "Test Person",
    "GIT_COMMITTER_EMAIL": "person@example.com",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_CONFIG_NOSYSTEM": "1",
}

# Small budgets so that a whole generation takes a second or two.
TEST_PYPROJECT = """\
[project]
name = "evolving-demo"
version = "0"

[tool.augnes]
suite = "control"
seed = 3

[tool.augnes.evaluation]
first_stage_episodes = 1
"""


@pytest.fixture(autouse=True)
def _git_identity(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


def load_benchmark(name: str) -> ModuleType:
    """A script under benchmarks/perf/ imported as a module (`name` without .py)."""
    spec = importlib.util.spec_from_file_location(
        f"perf_{name}", ROOT / "benchmarks" / "perf" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[f"perf_{name}"] = module
    spec.loader.exec_module(module)
    return module


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    out = subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def commit_file(repo: Path, path: str, text: str, message: str = "change") -> str:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    git(repo, "add", path)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit_file(repo, "README.md", "hello\n", "initial")
    return repo


def shrink_goals(benchmarks: Path, *, episodes: int, max_steps: int) -> None:
    for goal in (benchmarks / "control" / "goals").glob("*.toml"):
        lines = []
        for line in goal.read_text(encoding="utf-8").splitlines():
            if line.startswith("episodes"):
                line = f"episodes = {episodes}"
            elif line.startswith("max_steps"):
                line = f"max_steps = {max_steps}"
            lines.append(line)
        goal.write_text("\n".join(lines) + "\n", encoding="utf-8")


# the strategies this repository ships, which every seeded test repository starts with
SEED_STRATEGIES = sorted(
    p.name
    for p in (ROOT / "strategies").iterdir()
    if (p / "strategy.toml").is_file()
    and "control" in tomllib.loads((p / "strategy.toml").read_text())["suites"]
)


def make_seeded_repo(repo: Path, *, episodes: int = 3, max_steps: int = 150) -> Path:
    """A repository shaped like a user's: the shipped strategies and suite, small budgets."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    shutil.copytree(
        ROOT / "strategies", repo / "strategies", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(
        ROOT / "benchmarks", repo / "benchmarks", ignore=shutil.ignore_patterns("__pycache__")
    )
    shrink_goals(repo / "benchmarks", episodes=episodes, max_steps=max_steps)
    (repo / "pyproject.toml").write_text(TEST_PYPROJECT, encoding="utf-8")
    (repo / "lineage").mkdir()
    (repo / "lineage" / "README.md").write_text("lineage\n", encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "seed strategies")
    return repo


@pytest.fixture(scope="session")
def _seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_seeded_repo(tmp_path_factory.mktemp("template") / "repo")


@pytest.fixture
def seeded_repo(_seeded_template: Path, tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "seeded"
    shutil.copytree(_seeded_template, target, symlinks=True)
    yield target


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
    # the tests that use the engine need not be next to each other: keep it from idling
    # out while this session lives (a killed session stops pinging, and it stops)
    done = threading.Event()

    def keep_alive() -> None:
        while not done.wait(30):
            with contextlib.suppress(Exception):
                client.ping()

    pinger = threading.Thread(target=keep_alive, name="podman-keepalive", daemon=True)
    pinger.start()
    yield Engine(url, image)
    done.set()
    pinger.join(timeout=5)
    client.close()
    service.terminate()
    service.wait(timeout=30)
