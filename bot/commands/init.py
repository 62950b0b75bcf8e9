"""`augnes init`: make an existing repository evolvable, locally and on GitHub Actions.

Writes the three workflows, the worker image's Dockerfile, an example strategy and suite,
and the `[tool.augnes]` configuration, never overwriting a file unless asked; then says
which repository settings and secrets GitHub needs.
"""

from __future__ import annotations

from importlib import resources

import click

from bot.cli import AppContext
from bot.errors import ConfigError, RepoError, read_text
from bot.repo import Repo

CONFIG = """
[tool.augnes]
suite = "{suite}"
seed = 0
"""
# the example each template writes: its folder under bot/templates/, and its suite
TEMPLATES = {"control": ("example", "control"), "cases": ("cases", "fit")}
NEXT_STEPS = """\
Next, on GitHub (Settings of this repository):
  - Actions → General → Workflow permissions: "Read and write permissions", and tick
    "Allow GitHub Actions to create and approve pull requests".
  - Secrets and variables → Actions → Variables: AUGNES_INSTALL, the pip requirement the
    workflows install Augnes from, pinned (a version, or a git URL at a commit).
  - Optional variables: AUGNES_WORKER_BASE and AUGNES_WORKER_REQUIREMENTS, for the worker
    image (default python:3.11-slim with numpy and torch).
  - Optional, to act as a GitHub App instead of GITHUB_TOKEN: add the secrets
    AUGNES_APP_ID and AUGNES_APP_PRIVATE_KEY and pass them to the workflows' env.
Then press "Run workflow" on the evolve workflow. Labels are created as needed; pin the
"Augnes: evolution dashboard" issue once it appears. Locally: `augnes run`.
"""


def _files(template: str = "control") -> dict[str, bytes]:
    """Repository path → content, from the templates shipped with the package."""
    root = resources.files("bot") / "templates"
    out: dict[str, bytes] = {}
    for name in ("evolve.yml", "evaluate.yml", "select.yml"):
        out[f".github/workflows/{name}"] = (root / "workflows" / name).read_bytes()
    out["benchmarks/sandbox/Dockerfile"] = (root / "sandbox" / "Dockerfile").read_bytes()
    example = root / TEMPLATES[template][0]

    def walk(node: resources.abc.Traversable, prefix: str) -> None:
        for child in node.iterdir():
            path = f"{prefix}/{child.name}" if prefix else child.name
            if child.is_dir():
                if child.name != "__pycache__":
                    walk(child, path)
            else:
                out[path] = child.read_bytes()

    walk(example, "")
    return out


def init_command(obj: AppContext, *, force: bool, template: str = "control") -> None:
    try:
        repo = Repo(obj.root)
    except RepoError as exc:
        raise RepoError(f"{obj.root}: not a git repository; run `git init` first ({exc})") from None
    top = repo.root
    written, kept = [], []
    for path, data in sorted(_files(template).items()):
        target = top / path
        if target.exists() and not force:
            kept.append(path)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        written.append(path)
    config = CONFIG.format(suite=TEMPLATES[template][1])
    branch = repo.head_branch()
    if branch and branch != "main":  # the branch the loop evolves: the one checked out
        config += f'base_branch = "{branch}"\n'
        click.echo(f"  base branch: {branch} (the branch checked out; `base_branch` changes it)")
    pyproject = top / "pyproject.toml"
    text = read_text(pyproject, error=ConfigError) if pyproject.exists() else ""
    if "[tool.augnes]" in text or (top / "augnes.toml").exists():
        kept.append("pyproject.toml [tool.augnes]")
    elif pyproject.exists():
        pyproject.write_text(text.rstrip("\n") + "\n" + config, encoding="utf-8")
        written.append("pyproject.toml [tool.augnes]")
    else:
        (top / "augnes.toml").write_text(
            config.replace("[tool.augnes]\n", "").lstrip(), encoding="utf-8"
        )
        written.append("augnes.toml")
    for path in written:
        click.echo(f"  wrote {path}")
    for path in kept:
        click.echo(f"  kept  {path} (exists; --force overwrites)")
    click.echo("")
    click.echo("Commit these files, then:\n" + NEXT_STEPS)
