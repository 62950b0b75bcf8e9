"""The generation journal: the plan of a generation and how far it got, saved atomically after
every step so that an interrupted run continues where it stopped."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from bot.errors import LineageFileError
from bot.lineage_files import atomic_write, load_json
from bot.records import LLMUsage
from bot.repo import Repo
from bot.search_state import SearchState


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidate_id: str
    strategy: str
    family: str
    niche: str
    parents: list[str]
    operator: str
    seed: int
    summary: str
    content: str
    files: dict[str, str]  # the strategy directory's changed files
    novelty: str = ""  # its content normalised for near-duplicate checks
    tokens: int = 0  # language-model tokens its operator spent on it
    cost: float = 0.0
    hidden_dim: int | None = None
    baseline: bool = False  # a strategy on main evaluated as it is (no branch, no PR)
    commit: str | None = None
    pr: int | None = None
    # a pull request that is already open: a person's commit on a bot branch (operator
    # "human"), or a candidate labelled augnes:rerun; `branch` is its head branch (for a new
    # candidate: the branch it is proposed on, set when its branch is made)
    branch: str | None = None
    rerun: bool = False
    evaluated: bool = False
    early_stopped: bool = False
    clone: bool = False  # stopped after stage one: its results equalled its parent's
    failure: str = ""  # why an episode failed, as its worker said it (bounded)
    cell: str = ""  # its behaviour cell, once evaluated
    # a CMA-ES sample: the niche whose run asked for it, and its place in the population
    cma_niche: str | None = None
    cma_slot: int | None = None
    episode_s: float = 0.0
    decision: str | None = None
    merged: bool | None = None
    heldout: float | None = None  # benchmark_score on the held-out seeds, once evaluated


class Journal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str
    generation: int
    base: str  # the base branch's commit when the generation started
    started: str
    wall_s: float = 0.0
    heldout_s: float = 0.0  # seconds inside held-out episodes (they are episodes too)
    entries: list[Entry]
    deferrals: list[str] = []
    # per operator: attempts, made, invalid, duplicate, cached, planned (this generation)
    variation: dict[str, dict[str, int]] = {}
    # the language model this generation: calls, tokens, cost, seconds (refused answers
    # included), usable answers, refusals by reason, per template
    llm_usage: LLMUsage = LLMUsage()
    # on CI, where a generation is proposed and selected by separate jobs: how many more
    # generations to chain after this one, and with how many children each
    remaining: int = 0
    mutations: int = 0
    # the search state as planned (step sizes, CMA-ES runs, design counters); the record
    # phase updates it from the results and commits it as lineage/search_state.json
    search: SearchState | None = None


def load(path: Path) -> Journal | None:
    if not path.exists():
        return None
    try:
        return load_json(path.read_bytes(), Journal, source=str(path))
    except LineageFileError as exc:
        what = exc.message.split("; restore")[0]
        raise LineageFileError(
            f"{what}; the generation in progress cannot be read: `augnes repair` sets it "
            "aside, and the next run plans it anew"
        ) from None


def save(path: Path, journal: Journal) -> None:
    atomic_write(path, (journal.model_dump_json(indent=2) + "\n").encode())


JOURNAL_REF = "refs/augnes/journal"


def store_on_ref(repo: Repo, journal: Journal) -> str:
    """The journal as a commit on JOURNAL_REF, so that a later job (on another machine) can
    take the generation over: the selection after the evaluations."""
    data = (journal.model_dump_json(indent=2) + "\n").encode()
    tree = repo.write_files_tree({"journal.json": data})
    old = repo.resolve(JOURNAL_REF)
    commit = repo.commit_tree(
        tree,
        parents=[old] if old else [],
        message=f"augnes(g{journal.generation:03d}): journal\n",
    )
    repo.update_ref(JOURNAL_REF, commit, old=old, reason="augnes: journal")
    return commit


def load_from_ref(repo: Repo) -> Journal | None:
    commit = repo.resolve(JOURNAL_REF)
    if commit is None:
        return None
    raw = repo.read_file(commit, "journal.json")
    if raw is None:
        return None
    return load_json(raw, Journal, source=f"{JOURNAL_REF}:journal.json")
