"""Candidate identity, branch names, commit messages and trailers."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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
