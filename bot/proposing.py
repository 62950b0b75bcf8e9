"""Turn planned children into commits on their own branches and pull requests."""

from __future__ import annotations

import platform

from bot.archive import Archive
from bot.candidates import Planned, branch_name, commit_message, pr_title
from bot.errors import RepoError
from bot.forge import RERUN, PullRequest
from bot.journal import Entry, Journal
from bot.loop_state import Event, LoopState
from bot.people import reverted
from bot.report import changes, pr_body
from bot.scoring import VariantScore


class Proposing(LoopState):
    # ---- vary: commits and pull requests -------------------------------------------------
    def _materialise(self, journal: Journal) -> None:
        archive = self._archive(journal)
        g = journal.generation
        todo = [e for e in journal.entries if not e.baseline and e.pr is None]
        found: dict[str, PullRequest | None] = {}  # each branch's pull request, looked up once
        for e in todo:
            if e.branch is None:
                e.branch, found[e.branch] = self._free_branch(journal, e)
        refs = {f"refs/heads/{e.branch}": e for e in todo}
        for e in todo:
            self._say_reverts(journal, e, archive)
        have = self.repo.existing(list(refs))
        made = {
            ref: self._commit_child(journal, e, _planned(e), archive)
            for ref, e in refs.items()
            if ref not in have
        }
        self.repo.transaction(create=made, reason=f"augnes: generation {g} candidates")
        self.ws.forge.publish(self.repo.root, list(refs))  # a pull request needs its branch
        scores: dict[str, VariantScore] = {}
        for ref, e in refs.items():
            branch = ref.removeprefix("refs/heads/")
            sha = have.get(ref) or made[ref]
            plan = _planned(e)
            e.commit = sha
            pull = found[branch] if branch in found else self.ws.forge.find_pull(branch)
            if pull is None:
                scores = scores or self._scores(archive)
                body = pr_body(
                    candidate=e.candidate_id,
                    strategy=e.strategy,
                    niche=e.niche,
                    generation=g,
                    operator=e.operator,
                    summary=e.summary,
                    parents=e.parents,
                    parent_scores={p: scores[p] for p in e.parents if p in scores},
                    parent_links={
                        p: (archive.meta[p].commit, archive.meta[p].pr)
                        for p in e.parents
                        if p in archive.meta
                    },
                    changed=sorted(e.files),
                    harness=journal.base,
                    commit=sha,
                    seed=e.seed,
                    image=self._image(),
                    episodes={
                        goal.goal_id: self.ws.suite.seeds(goal) for goal in self.ws.suite.goals
                    },
                    changed_lines=changes(
                        self._parent_files(e, archive), self._child_files(e, archive)
                    ),
                )
                pull = self.ws.forge.open_pull(
                    branch=branch,
                    base=self.ws.base,
                    title=pr_title(plan, generation=g),
                    body=body,
                    head_sha=sha,
                    labels=["augnes", "augnes:benchmarking"],
                )
            e.pr = pull.number
        for e in journal.entries:  # pull requests taken up again: a person's push, a rerun
            if (e.operator == "human" or e.rerun) and e.pr is not None and not e.evaluated:
                self._reopen(e.pr)
        # One save for all: every step above finds its own work again (branch, pull request).
        self._save(journal)

    def _free_branch(self, journal: Journal, e: Entry) -> tuple[str, PullRequest | None]:
        """The candidate's branch: `augnes/gNNN/<id>`, unless that name is held by an
        earlier incarnation of this generation that main's history no longer contains (it
        was undone with `git reset`): a branch built on another base, or with a pull
        request that is already decided. Then the first free `<name>-2`, `-3`, ...; the
        old branch and pull request stay as they were, for the record."""
        name = branch_name(journal.generation, e.candidate_id)
        for n in range(1, 1000):
            branch = name if n == 1 else f"{name}-{n}"
            sha = self.repo.resolve(f"refs/heads/{branch}")
            pull = self.ws.forge.find_pull(branch)
            if sha is None and pull is None:
                return branch, None
            ours = (
                sha is not None
                and self.repo.parents(sha)[:1] == [journal.base]
                and (pull is None or pull.state == "open")
            )
            if ours:  # made by this plan before a crash: taken up again
                return branch, pull
            if n == 1:
                self.emit(
                    Event(
                        "problem",
                        journal.generation,
                        candidate=e.candidate_id,
                        detail=(
                            f"branch {branch} is left from a generation {journal.generation} "
                            f"that is no longer on {self.ws.base} (undone); this one is "
                            "benchmarked on a branch of its own"
                        ),
                    )
                )
        raise RepoError(f"{name}: no free branch name left; delete the old ones")

    def _parent_files(self, e: Entry, archive: Archive) -> dict[str, bytes]:
        """The folder of the child's first parent, as it was."""
        parent = archive.meta[e.parents[0]]
        return self.repo.read_dir(parent.commit, self.ws.strategy_dir(parent.strategy))

    def _child_files(self, e: Entry, archive: Archive) -> dict[str, bytes]:
        """The child's folder: its parent's as it was, with the child's changes (a child
        founding or joining another niche's folder carries its manifest renamed)."""
        files = self._parent_files(e, archive)
        files.update({k: v.encode() for k, v in e.files.items()})
        return files

    def _say_reverts(self, journal: Journal, e: Entry, archive: Archive) -> None:
        """A child that would set back, on main, what a person committed there after its
        parent was made says so in its summary: the pull request's title and body and the
        merge commit carry it. (It is judged against the person's variant: that is the
        niche's elite once benchmarked.)"""
        if "; also reverts " in e.summary or not e.parents:
            return
        notes = reverted(
            self.repo,
            base=journal.base,
            parent=archive.meta[e.parents[0]].commit,
            folder=self.ws.strategy_dir(e.strategy),
            child=self._child_files(e, archive),
        )
        if notes:
            e.summary += "; also reverts " + ", ".join(notes)

    def _commit_child(self, journal: Journal, e: Entry, plan: Planned, archive: Archive) -> str:
        parent_commits = [archive.meta[p].commit for p in e.parents]
        directory = self.ws.strategy_dir(e.strategy)
        files = self._child_files(e, archive)
        tree = self.repo.write_tree(journal.base, replace={directory: files})
        message = commit_message(plan, generation=journal.generation, harness=journal.base)
        return self.repo.commit_tree(tree, parents=[journal.base, *parent_commits], message=message)

    def _image(self) -> str:
        """Where the candidate is evaluated: the worker image (always, on GitHub), or the
        local backend with the host's Python."""
        if self.ws.forge.name == "github" or self.sandbox.name == "docker":
            return f"image {self.cfg.evaluation.docker_image}"
        return f"{self.sandbox.name} with Python {platform.python_version()}"

    def _reopen(self, number: int) -> None:
        """A pull request taken up again (a person's commit, or augnes:rerun): benchmarking
        again, the rerun request answered; every other label people set stays."""
        self.ws.forge.set_labels(number, ["augnes", "augnes:benchmarking"], drop=[RERUN])


def _planned(e: Entry) -> Planned:
    return Planned(
        e.candidate_id,
        e.strategy,
        tuple(e.parents),
        e.operator,
        e.seed,
        e.summary,
        e.content,
        e.files,
    )
