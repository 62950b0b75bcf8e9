"""What the benchmark scripts share: running the CLI in a scratch repository."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def augnes(repo: Path, *args: str) -> str:
    """`augnes -C repo args…` in a process of its own; its output, or exit with its error.
    The wall time goes to stderr."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bot", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"augnes {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    print(f"augnes {' '.join(args)}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return done.stdout
