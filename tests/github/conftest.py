"""The GitHub emulator, on a real bare repository, for tests that talk to "GitHub"."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import commit_file, git
from tests.github.emulator import Emulator


@pytest.fixture()
def github(tmp_path: Path) -> Iterator[Emulator]:
    """The emulator serving octo/evolving, whose repository has main and one bot branch.
    The test fails if any request or response broke GitHub's description."""
    work = tmp_path / "work"
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "README.md").write_text("evolving\n")
    git(work, "add", "README.md")
    git(work, "commit", "-q", "-m", "start")
    git(work, "checkout", "-q", "-b", "augnes/g001/c-1111111")
    (work / "strategy.txt").write_text("child\n")
    git(work, "add", "strategy.txt")
    git(work, "commit", "-q", "-m", "child")
    git(work, "push", "-q", str(bare), "main", "augnes/g001/c-1111111")
    emulator = Emulator(bare).start()
    emulator.work = work  # type: ignore[attr-defined]
    yield emulator
    emulator.stop()
    assert emulator.violations == [], "\n".join(emulator.violations)


FORGE = """
[tool.augnes.forge]
kind = "github"
repository = "octo/evolving"
api_url = "{url}"
remote = "{remote}"
write_spacing_s = 0
"""


@pytest.fixture()
def on_github(
    seeded_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Emulator, Path]]:
    """A user's repository configured for the GitHub forge, its main pushed to the
    emulator's bare repository; fails the test on any request outside the description."""
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    emulator = Emulator(bare).start()
    pyproject = (seeded_repo / "pyproject.toml").read_text()
    commit_file(
        seeded_repo,
        "pyproject.toml",
        pyproject + FORGE.format(url=emulator.url, remote=bare),
        "use GitHub",
    )
    git(seeded_repo, "push", "-q", str(bare), "main")
    monkeypatch.setenv("GITHUB_TOKEN", "bot-token")
    yield emulator, seeded_repo
    emulator.stop()
    assert emulator.violations == [], "\n".join(emulator.violations)


NPM_CACHE = Path(tempfile.gettempdir()) / "augnes-test-npm"


def npm_file(package: str, path: str) -> Path:
    """`path` inside the npm package `package` (name@version), installed from the registry
    into a cache that test runs share; skips the test where npm is missing."""
    name = package.rsplit("@", 1)[0]
    target = NPM_CACHE / "node_modules" / name / path
    if not target.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed")
        subprocess.run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--silent",
                "--prefix",
                str(NPM_CACHE),
                package,
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
    return target
