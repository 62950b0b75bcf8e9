"""Candidate identity, branch names, commit messages and trailers."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.errors import CandidateRefused

if TYPE_CHECKING:
    from bot.repo import Repo

TRAILER_KEYS = (
    "Augnes-Candidate",
    "Augnes-Parent",
    "Augnes-Generation",
    "Augnes-Operator",
    "Augnes-Seed",
    "Augnes-Harness",
)


def content_hash(files: Mapping[str, bytes]) -> str:
    """A hash of a strategy directory's files, independent of where they sit in git."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    return digest.hexdigest()


def novelty_key(files: Mapping[str, bytes], *, digits: int, params_file: str) -> str:
    """A hash of the files as a near-duplicate check sees them: Python sources without
    formatting, comments and docstrings; parameters rounded to `digits` significant digits."""
    import json

    from bot.operators.code import normalised

    digest = hashlib.sha256()
    for path in sorted(files):
        data = files[path]
        if path.endswith(".py"):
            data = normalised(data.decode(errors="replace")).encode()
        elif path == params_file:
            try:
                values = json.loads(data)
            except ValueError:
                pass
            else:
                data = json.dumps(_rounded(values, digits), sort_keys=True).encode()
        digest.update(path.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()


def _rounded(value: object, digits: int) -> object:
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, list):
        return [_rounded(v, digits) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    return value


def candidate_id(*, parents: Sequence[str], operator: str, content: str) -> str:
    """Short hash of (parent ids, operator, the child's normalised content): a mutation that
    was proposed once gets the same id again, so it is never proposed twice."""
    text = "\n".join([*sorted(parents), operator, content])
    return "c-" + hashlib.sha256(text.encode()).hexdigest()[:7]


def seed_id(strategy: str, content: str) -> str:
    return "c-" + hashlib.sha256(f"seed\n{strategy}\n{content}".encode()).hexdigest()[:7]


def branch_name(generation: int, cid: str) -> str:
    return f"augnes/g{generation:03d}/{cid}"


def archive_ref(cid: str) -> str:
    return f"refs/augnes/archive/{cid}"


@dataclass(frozen=True)
class Planned:
    """A child planned in a generation, as saved in the journal before anything is written."""

    candidate_id: str
    strategy: str
    parents: tuple[str, ...]
    operator: str
    seed: int
    summary: str
    content: str
    files: Mapping[str, str]


def commit_message(plan: Planned, *, generation: int, harness: str) -> str:
    arrow = " + ".join(plan.parents)
    lines = [
        f"augnes(g{generation:03d}): {plan.candidate_id} ← {arrow}: {plan.operator}",
        "",
        f"{plan.summary} in strategies/{plan.strategy}.",
        "",
        f"Augnes-Candidate: {plan.candidate_id}",
    ]
    lines += [f"Augnes-Parent: {p}" for p in plan.parents]
    lines += [
        f"Augnes-Generation: {generation}",
        f"Augnes-Operator: {plan.operator}",
        f"Augnes-Seed: {plan.seed}",
        f"Augnes-Harness: {harness}",
    ]
    return "\n".join(lines) + "\n"


def pr_title(plan: Planned, *, generation: int) -> str:
    return (
        f"[augnes g{generation:03d}] {plan.candidate_id} ← {' + '.join(plan.parents)}: "
        f"{plan.operator} ({plan.summary})"
    )


def candidate_strategy(repo: Repo, *, base: str, commit: str, strategies_dir: str) -> str:
    """The one strategy folder that `commit` changes since it left `base`; refuses any change
    elsewhere (workflows, the harness, lineage, benchmarks) or across strategies."""
    fork = repo.merge_base(base, commit)
    if fork is None:
        raise CandidateRefused(f"{commit[:12]} shares no history with {base}")
    changed = repo.changed_paths(fork, commit)
    outside = [p for p in changed if not p.startswith(f"{strategies_dir}/")]
    if outside:
        shown = ", ".join(outside[:5]) + (
            f" and {len(outside) - 5} more" if len(outside) > 5 else ""
        )
        raise CandidateRefused(
            f"{commit[:12]} changes files outside {strategies_dir}/: {shown}; a candidate may "
            "change one strategy only"
        )
    folders = sorted({p.split("/")[1] for p in changed if p.count("/") >= 2})
    if len(folders) != 1:
        what = ", ".join(folders) if folders else "nothing"
        raise CandidateRefused(f"{commit[:12]} changes {what}; a candidate changes one strategy")
    return folders[0]
