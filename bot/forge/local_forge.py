"""The embedded forge: pull requests recorded inside the repository (`.git/augnes/forge/`).

Each pull request is one JSON file written atomically, so the records survive restarts and
a crash never leaves half a record. Merging makes a real merge commit on the base branch with
`git merge-tree`, never touching the work tree.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.errors import ForgeError
from bot.forge import Comment, HeadMoved, PullRequest, PullState, Status, relabelled
from bot.lineage_files import atomic_write, locked
from bot.repo import Repo

BOT_LOGIN = "augnes[bot]"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _from_json(data: dict[str, Any]) -> PullRequest:
    data = dict(data)
    data["comments"] = [Comment(**c) for c in data.get("comments", [])]
    data["statuses"] = {k: Status(**v) for k, v in data.get("statuses", {}).items()}
    return PullRequest(**data)


class LocalForge:
    name = "local"

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.folder = repo.state_dir / "forge" / "pulls"
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = repo.state_dir / "forge" / "forge.lock"
        self.branches = repo.state_dir / "forge" / "branches"
        self.branches.mkdir(parents=True, exist_ok=True)

    def _path(self, number: int) -> Path:
        return self.folder / f"{number:06d}.json"

    def _save(self, pull: PullRequest) -> None:
        pull.updated = _now()
        atomic_write(
            self._path(pull.number),
            (json.dumps(dataclasses.asdict(pull), indent=2) + "\n").encode(),
        )

    def get_pull(self, number: int) -> PullRequest:
        path = self._path(number)
        if not path.exists():
            raise ForgeError(f"local forge: pull request #{number} does not exist ({path})")
        try:
            pull = _from_json(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, TypeError) as exc:
            raise ForgeError(
                f"{path}: unreadable pull request record ({exc}); restore or delete it"
            ) from None
        if pull.state == "open":  # as on GitHub: an open pull request follows its branch
            pull.head_sha = self.repo.resolve(f"refs/heads/{pull.branch}") or pull.head_sha
        return pull

    def list_pulls(self, *, state: PullState | None = None) -> list[PullRequest]:
        pulls = [self.get_pull(int(p.stem)) for p in sorted(self.folder.glob("*.json"))]
        return [p for p in pulls if state is None or p.state == state]

    def _branch_file(self, branch: str) -> Path:
        return self.branches / hashlib.sha256(branch.encode()).hexdigest()[:24]

    def find_pull(self, branch: str) -> PullRequest | None:
        """By the branch index (one small file per branch), so the cost does not grow."""
        number = self._indexed(branch)
        if number is None or not self._path(number).exists():
            return None  # a crash between the index and the record: open_pull reuses the number
        pull = self.get_pull(number)
        return pull if pull.branch == branch else None

    def _indexed(self, branch: str) -> int | None:
        index = self._branch_file(branch)
        return int(index.read_text(encoding="utf-8")) if index.exists() else None

    def _take_number(self) -> int:
        """The next pull request number; a crash may skip one, never reuse one."""
        counter = self.folder.parent / "next-number"
        number = int(counter.read_text(encoding="utf-8")) if counter.exists() else 1
        atomic_write(counter, str(number + 1).encode())
        return number

    def open_pull(
        self, *, branch: str, base: str, title: str, body: str, head_sha: str, labels: Sequence[str]
    ) -> PullRequest:
        with locked(self._lock):
            existing = self.find_pull(branch)
            if existing is not None:
                return existing
            if self.repo.resolve(f"refs/heads/{branch}") != head_sha:
                raise ForgeError(
                    f"local forge: branch {branch} is not at {head_sha[:10]}; push it first"
                )
            number = self._indexed(branch)
            if number is None:
                number = self._take_number()
                atomic_write(self._branch_file(branch), str(number).encode())
            pull = PullRequest(
                number=number,
                branch=branch,
                base=base,
                title=title,
                body=body,
                head_sha=head_sha,
                labels=list(dict.fromkeys(labels)),
                created=_now(),
            )
            self._save(pull)
            return pull

    def set_labels(
        self,
        number: int,
        labels: Sequence[str],
        *,
        transient: bool = False,
        drop: Sequence[str] = (),
    ) -> None:
        with locked(self._lock):
            pull = self.get_pull(number)
            pull.labels = relabelled(pull.labels, labels, drop)
            self._save(pull)

    def labels(self, number: int) -> list[str]:
        return list(self.get_pull(number).labels)

    def sticky_comment(self, number: int, *, marker: str, body: str) -> None:
        """One comment per marker by the bot, edited in place."""
        with locked(self._lock):
            pull = self.get_pull(number)
            for comment in pull.comments:
                if comment.author == BOT_LOGIN and marker in comment.body:
                    comment.body, comment.ts = body, _now()
                    break
            else:
                pull.comments.append(Comment(BOT_LOGIN, body, _now()))
            self._save(pull)

    def set_status(
        self, number: int, *, context: str, sha: str, state: str, description: str
    ) -> None:
        with locked(self._lock):
            pull = self.get_pull(number)
            pull.statuses[context] = Status(sha, state, description)  # type: ignore[arg-type]
            self._save(pull)

    def merge(self, number: int, *, head_sha: str, message: str) -> str:
        """Merge commit of the PR's head into its base; refuses if the head moved."""
        with locked(self._lock):
            pull = self.get_pull(number)
            if pull.state == "merged" and pull.merge_commit:
                return pull.merge_commit
            if pull.state != "open":
                raise ForgeError(
                    f"local forge: pull request #{number} is {pull.state}; reopen it to merge"
                )
            current = self.repo.resolve(f"refs/heads/{pull.branch}")
            if current != head_sha:
                raise HeadMoved(
                    f"local forge: #{number} head moved from {head_sha[:10]} to {str(current)[:10]} "
                    "after benchmarking; it must be benchmarked again before it can merge"
                )
            base = self.repo.branch_sha(pull.base)
            if self.repo.is_ancestor(head_sha, base):  # a crash after the merge, before the record
                merge_sha = base
            else:
                merge_sha = self._merge_commit(base, head_sha, message, number)
                self.repo.update_ref(
                    f"refs/heads/{pull.base}", merge_sha, old=base, reason=f"merge #{number}"
                )
            pull.state, pull.merge_commit = "merged", merge_sha
            self._save(pull)
            return merge_sha

    def _merge_commit(self, base: str, head: str, message: str, number: int) -> str:
        tree = self.repo.merged_tree(base, head)
        if tree is None:
            raise ForgeError(
                f"local forge: #{number} conflicts with its base; close it or rebase the branch"
            )
        return self.repo.commit_tree(tree, parents=[base, head], message=message)

    def close(
        self,
        number: int,
        *,
        reason: str,
        labels: Sequence[str] | None = None,
        comment: bool = True,
    ) -> None:
        with locked(self._lock):
            pull = self.get_pull(number)
            if labels is not None:
                pull.labels = relabelled(pull.labels, labels)
            if pull.state != "open":
                self._save(pull)
                return
            pull.state = "closed"
            if comment:
                pull.comments.append(Comment(BOT_LOGIN, f"Closed: {reason}", _now()))
            self._save(pull)

    def publish(self, root: Path, refs: Sequence[str]) -> None:
        """Nothing to do: this forge lives in the repository itself."""

    def sync(self, root: Path, branch: str) -> None:
        """Nothing to do: merges here move the local branch already."""

    def flush(self) -> None:
        """Nothing is held back here: a label costs no request."""

    def fetch(self, root: Path, ref: str) -> None:
        """Nothing to do: the repository is the forge."""

    def retract(self, root: Path, refs: Sequence[str]) -> None:
        """Nothing to do: the repository is the forge."""

    def remote_branches(self, root: Path, prefix: str) -> list[str]:
        """The repository's own: the caller deletes them there."""
        return []

    def dashboard(self, *, title: str, label: str, body: str) -> None:
        """Kept beside the pull requests, as `.git/augnes/forge/dashboard.md`."""
        atomic_write(self.folder.parent / "dashboard.md", f"# {title}\n\n{body}".encode())
