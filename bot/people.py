"""What people changed on the base branch, so that no child undoes it silently.

A child carries its parent's folder: a value a person set on the base branch after that
parent was made would be set back by its merge. `reverted` names each such value (and
each file a person changed that the child's differs in) for the pull request's title and
body; `changed_since` finds the strategy folders people changed while a generation was
being evaluated, which no child of it may merge over before they are benchmarked."""

from __future__ import annotations

import json
from collections.abc import Mapping

from bot.manifest import PARAMS
from bot.repo import BOT_NAME, Repo


def _people(repo: Repo, *, since: str, until: str, folder: str) -> list[str]:
    """The commits of people (not the bot) that change `folder` after `since`, oldest first."""
    return [
        sha
        for sha, author in repo.commits_touching(since=since, until=until, path=folder)
        if author != BOT_NAME
    ]


def _params(repo: Repo, commit: str, folder: str) -> dict[str, object]:
    data = repo.read_file(commit, f"{folder}/{PARAMS}")
    try:
        loaded = json.loads(data) if data else {}
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def reverted(
    repo: Repo, *, base: str, parent: str, folder: str, child: Mapping[str, bytes]
) -> list[str]:
    """What merging `child` (the folder's files) into `base` would set back of what people
    committed to `folder` since `parent` (the commit the child's folder comes from), as
    phrases: "`letter_max` 300 → 92, set by a person in abc1234"."""
    people = _people(repo, since=parent, until=base, folder=folder)
    if not people:
        return []
    set_by: dict[str, str] = {}  # a params key, or a file name: the last person commit
    for sha in people:
        before = repo.parents(sha)[:1]
        old = _params(repo, before[0], folder) if before else {}
        new = _params(repo, sha, folder)
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                set_by[f"param:{key}"] = sha
        for path in repo.changed_paths(before[0], sha) if before else []:
            if path.startswith(f"{folder}/") and not path.endswith(f"/{PARAMS}"):
                set_by[f"file:{path.removeprefix(folder + '/')}"] = sha
    now = _params(repo, base, folder)
    try:
        mine = json.loads(child.get(PARAMS, b"{}"))
    except ValueError:
        mine = {}
    out = []
    for what, sha in sorted(set_by.items()):
        kind, name = what.split(":", 1)
        if kind == "param" and isinstance(mine, dict) and mine.get(name) != now.get(name):
            out.append(
                f"`{name}` {json.dumps(now.get(name))} → {json.dumps(mine.get(name))}, "
                f"set by a person in {sha[:7]}"
            )
        elif kind == "file" and child.get(name) != repo.read_file(base, f"{folder}/{name}"):
            out.append(f"`{name}` as changed by a person in {sha[:7]}")
    return out


def changed_since(repo: Repo, *, base: str, main: str, folders: set[str]) -> dict[str, str]:
    """Of `folders`, those a person's commit on `main` since `base` changes: folder → the
    latest such commit."""
    if base == main:
        return {}
    out = {}
    for folder in sorted(folders):
        people = _people(repo, since=base, until=main, folder=folder)
        if people:
            out[folder] = people[-1]
    return out
