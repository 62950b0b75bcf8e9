"""The bwrap backend as most people run it: as an ordinary user, through a user namespace.

The rest of the suite runs as whoever runs pytest (root on CI). Here, when that is root, the
hostile suite runs again as uid 65534 with a Python of its own (a virtual environment on the
system's interpreter, which an ordinary user can read), so the unprivileged path — user
namespace, capabilities dropped instead of a uid change — is exercised for real too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPT = """
import json, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, {root!r})
from bot.sandbox.bwrap_backend import BwrapSandbox, preflight
from bot.sandbox.hostile import PAYLOADS, contain, leftover_pids, write_strategy

why = preflight()
if why:
    print(json.dumps({{"preflight": why}}))
    sys.exit(0)
box = BwrapSandbox(preload=("numpy",))
work = Path(tempfile.mkdtemp())
rows = []
for p in PAYLOADS:
    folder = write_strategy(work / p.name, p, {{"port": 9, "abstract": "x", "paths": ["/etc/shadow"]}})
    outcome = contain(box, folder, p)
    rows.append([p.name, outcome.kind, outcome.kind in p.expected])
box.close()
time.sleep(0.5)
print(json.dumps({{"rows": rows, "leftovers": leftover_pids()}}))
"""


@pytest.fixture(scope="module")
def user_python() -> Path:
    if os.geteuid() != 0:
        pytest.skip("the whole suite already runs unprivileged")
    system = shutil.which("python3", path="/usr/bin:/bin")
    setpriv = shutil.which("setpriv")
    if system is None or setpriv is None or shutil.which("bwrap") is None:
        pytest.skip("needs the system's python3, setpriv and bwrap")
    if any(not os.access(p, os.R_OK | os.X_OK) for p in (ROOT, *ROOT.parents)):
        pytest.skip(f"{ROOT} is not readable by other users")
    folder = Path(tempfile.mkdtemp(prefix="augnes-user-"))
    folder.chmod(0o755)
    venv = folder / "venv"
    subprocess.run([system, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            venv / "bin" / "pip",
            "install",
            "-q",
            "numpy",
            "gymnasium",
            "pydantic",
            "GitPython",
            "click",
        ],
        check=True,
        capture_output=True,
    )
    return venv / "bin" / "python"


def test_the_hostile_suite_as_an_ordinary_user(user_python: Path) -> None:
    home = Path(tempfile.mkdtemp(prefix="augnes-home-"))
    home.chmod(0o777)
    done = subprocess.run(
        [
            "setpriv",
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "env",
            "-i",
            "PATH=/usr/bin:/bin",
            f"HOME={home}",
            f"TMPDIR={home}",
            str(user_python),
            "-c",
            SCRIPT.format(root=str(ROOT)),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if "preflight" in report:
        pytest.skip(f"bwrap cannot run unprivileged here: {report['preflight']}")
    assert [row for row in report["rows"] if not row[2]] == []
    assert report["leftovers"] == []
