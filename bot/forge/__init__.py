"""Forges: where pull requests live. The local forge is the embedded default."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from bot.errors import ForgeError

PullState = Literal["open", "merged", "closed"]

# labels people put on the bot's pull requests
STOP = "augnes:stop"  # leave this pull request alone: no report, no merge, no close
PIN = "augnes:pin"  # keep it open even when it is not selected
RERUN = "augnes:rerun"  # benchmark it again and decide anew (the label is then taken off)
CONTROLS = (STOP, PIN, RERUN)
# the one state label a bot pull request carries beside `augnes`
STATES = ("augnes:benchmarking", "augnes:benchmarked", "augnes:selected", "augnes:rejected")


def relabelled(current: Sequence[str], ours: Sequence[str], drop: Sequence[str] = ()) -> list[str]:
    """The labels after the bot sets its own (`augnes` and a state) to `ours`: every label
    a person put there stays (controls, their own), except those in `drop` (a rerun request
    once answered)."""
    owned = {"augnes", *STATES, *drop}
    return list(dict.fromkeys([*ours, *(x for x in current if x not in owned)]))


class HeadMoved(ForgeError):
    """A pull request's branch moved after it was benchmarked: it is not merged."""


@dataclass
class Comment:
    author: str
    body: str
    ts: str


@dataclass
class Status:
    sha: str
    state: Literal["pending", "success", "failure", "error"]
    description: str


@dataclass
class PullRequest:
    number: int
    branch: str
    base: str
    title: str
    body: str
    head_sha: str
    state: PullState = "open"
    labels: list[str] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    statuses: dict[str, Status] = field(default_factory=dict)
    merge_commit: str | None = None
    created: str = ""
    updated: str = ""


class Forge(Protocol):
    name: str

    def find_pull(self, branch: str) -> PullRequest | None: ...

    def open_pull(
        self, *, branch: str, base: str, title: str, body: str, head_sha: str, labels: Sequence[str]
    ) -> PullRequest: ...

    def get_pull(self, number: int) -> PullRequest: ...

    def list_pulls(self, *, state: PullState | None = None) -> list[PullRequest]: ...

    def set_labels(
        self,
        number: int,
        labels: Sequence[str],
        *,
        transient: bool = False,
        drop: Sequence[str] = (),
    ) -> None:
        """Set the bot's own labels (`augnes`, the state) to `labels`, keeping the ones people
        set except `drop` (see `relabelled`). A `transient` state (benchmarked, awaiting
        selection) may be held back until `flush`, and dropped if a later state replaces it
        first."""
        ...

    def flush(self) -> None:
        """Write what was held back (transient labels)."""
        ...

    def labels(self, number: int) -> list[str]:
        """The pull request's labels as they are now (people add control labels)."""
        ...

    def sticky_comment(self, number: int, *, marker: str, body: str) -> None: ...

    def set_status(
        self, number: int, *, context: str, sha: str, state: str, description: str
    ) -> None: ...

    def merge(self, number: int, *, head_sha: str, message: str) -> str: ...

    def close(
        self,
        number: int,
        *,
        reason: str,
        labels: Sequence[str] | None = None,
        comment: bool = True,
    ) -> None:
        """Close, setting the bot's labels to `labels` (people's stay, as in `set_labels`)
        in the same step; `comment` posts the reason (skip it when a report that states the
        reason was just posted)."""
        ...

    def publish(self, root: Path, refs: Sequence[str]) -> None:
        """Make local refs (branches, archive refs, the base branch) visible on the forge."""
        ...

    def sync(self, root: Path, branch: str) -> None:
        """Bring the forge's `branch` (moved by merges there) into the local repository."""
        ...

    def dashboard(self, *, title: str, label: str, body: str) -> None:
        """Rewrite the one dashboard (an issue with `label`), creating it the first time."""
        ...

    def fetch(self, root: Path, ref: str) -> None:
        """Copy the forge's `ref` into the local repository (gone there: gone here)."""
        ...

    def retract(self, root: Path, refs: Sequence[str]) -> None:
        """Delete `refs` on the forge (and nothing locally)."""
        ...

    def remote_branches(self, root: Path, prefix: str) -> list[str]:
        """The forge's branches whose names start with `prefix`."""
        ...
