"""Regenerate tests/github/openapi-subset.json from GitHub's own REST description.

    python tests/github/refresh_openapi.py [path/to/api.github.com.json]

Without a path it installs the npm package @octokit/openapi (pinned below) into a temporary
folder and reads `generated/api.github.com.json` from it. The subset keeps the operations the
forge uses (OPERATIONS), every component they reference, transitively, and nothing else;
examples are dropped. The emulator validates every request and response against it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

PACKAGE = "@octokit/openapi@23.0.2"
OUT = Path(__file__).resolve().parent / "openapi-subset.json"
OPERATIONS = [
    "apps/get-repo-installation",
    "apps/create-installation-access-token",
    "users/get-authenticated",
    "repos/get",
    "repos/get-branch",
    "git/get-ref",
    "pulls/list",
    "pulls/create",
    "pulls/get",
    "pulls/update",
    "pulls/merge",
    "issues/get",
    "issues/create",
    "issues/update",
    "issues/list-for-repo",
    "issues/list-comments",
    "issues/create-comment",
    "issues/update-comment",
    "issues/list-labels-on-issue",
    "issues/set-labels",
    "issues/add-labels",
    "issues/remove-label",
    "issues/get-label",
    "issues/create-label",
    "repos/create-commit-status",
    "repos/list-commit-statuses-for-ref",
    "repos/get-combined-status-for-ref",
    "actions/create-workflow-dispatch",
]


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref)
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _drop_examples(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _drop_examples(v) for k, v in node.items() if k not in ("examples", "example")}
    if isinstance(node, list):
        return [_drop_examples(v) for v in node]
    return node


def subset(spec: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    wanted = set(OPERATIONS)
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and op.get("operationId") in wanted:
                entry = paths.setdefault(path, {k: v for k, v in item.items() if k == "parameters"})
                entry[method] = op
                wanted.discard(op["operationId"])
    if wanted:
        raise SystemExit(f"operations not in the description: {sorted(wanted)}")
    paths = _drop_examples(paths)
    components: dict[str, dict[str, Any]] = {}
    todo: set[str] = set()
    _refs(paths, todo)
    done: set[str] = set()
    while todo:
        ref = todo.pop()
        if ref in done:
            continue
        done.add(ref)
        _, _, kind, name = ref.split("/", 3)
        value = _drop_examples(spec["components"][kind][name])
        components.setdefault(kind, {})[name] = value
        _refs(value, todo)
    return {
        "openapi": spec["openapi"],
        "info": {**spec["info"], "x-subset-of": PACKAGE},
        "servers": spec.get("servers", []),
        "paths": paths,
        "components": components,
    }


def main() -> None:
    if len(sys.argv) > 1:
        source = Path(sys.argv[1])
        spec = json.loads(source.read_text())
    else:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", tmp, PACKAGE],
                check=True,
            )
            source = Path(tmp) / "node_modules/@octokit/openapi/generated/api.github.com.json"
            spec = json.loads(source.read_text())
    OUT.write_text(json.dumps(subset(spec), indent=1, sort_keys=True) + "\n")
    print(f"{OUT}: {len(OPERATIONS)} operations, {OUT.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
