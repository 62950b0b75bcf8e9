"""What the benchmark scripts share: running the CLI in a scratch repository."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


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


def clone(source: Path, dest: Path) -> Path:
    """A scratch clone of `source` with its work on branch main, whatever source calls it."""
    subprocess.run(["git", "clone", "-q", str(source), str(dest)], check=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "-q", "-B", "main"], check=True)
    return dest


def write_result(out: Path, result: dict[str, Any]) -> None:
    """The benchmark's JSON to `out`, and to stdout."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
