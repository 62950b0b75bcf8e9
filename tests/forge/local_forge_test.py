from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ForgeError
from bot.forge.local_forge import BOT_LOGIN, LocalForge
from bot.repo import Repo
from tests.conftest import git


def branch_with_change(repo: Repo, name: str, files: dict[str, bytes]) -> str:
    base = repo.branch_sha("main")
    sha = repo.commit_tree(
        repo.write_tree(base, replace={"strategies/s": files}), parents=[base], message=f"{name}\n"
    )
    repo.update_ref(f"refs/heads/{name}", sha, old=None, reason="t")
    return sha


def open_one(forge: LocalForge, branch: str, sha: str) -> int:
    pull = forge.open_pull(
        branch=branch, base="main", title="t", body="b", head_sha=sha, labels=["augnes", "augnes"]
    )
    return pull.number


def test_open_is_idempotent_and_survives_a_new_instance(git_repo: Path) -> None:
    repo = Repo(git_repo)
    sha = branch_with_change(repo, "augnes/g001/c-1", {"p": b"1"})
    forge = LocalForge(repo)
    number = open_one(forge, "augnes/g001/c-1", sha)
    assert open_one(forge, "augnes/g001/c-1", sha) == number
    again = LocalForge(Repo(git_repo))
    pull = again.find_pull("augnes/g001/c-1")
    assert pull is not None and pull.number == number and pull.labels == ["augnes"]
    assert again.list_pulls(state="open") == [pull]


def test_numbers_are_never_reused(git_repo: Path) -> None:
    repo = Repo(git_repo)
    forge = LocalForge(repo)
    first = open_one(forge, "b1", branch_with_change(repo, "b1", {"p": b"1"}))
    second = open_one(forge, "b2", branch_with_change(repo, "b2", {"p": b"2"}))
    assert (first, second) == (1, 2)


def test_sticky_comment_is_edited_in_place(git_repo: Path) -> None:
    repo = Repo(git_repo)
    forge = LocalForge(repo)
    n = open_one(forge, "b", branch_with_change(repo, "b", {"p": b"1"}))
    forge.sticky_comment(n, marker="<!-- m -->", body="<!-- m -->\nfirst")
    forge.sticky_comment(n, marker="<!-- m -->", body="<!-- m -->\nsecond")
    forge.sticky_comment(n, marker="<!-- other -->", body="<!-- other -->\nx")
    comments = forge.get_pull(n).comments
    assert [c.body.splitlines()[-1] for c in comments] == ["second", "x"]
    assert all(c.author == BOT_LOGIN for c in comments)


def test_merge_makes_a_real_merge_commit_and_is_idempotent(git_repo: Path) -> None:
    repo = Repo(git_repo)
    forge = LocalForge(repo)
    sha = branch_with_change(repo, "b", {"p": b"1"})
    before = repo.branch_sha("main")
    n = open_one(forge, "b", sha)
    merge = forge.merge(n, head_sha=sha, message="Merge b\n")
    assert repo.branch_sha("main") == merge
    assert repo.parents(merge) == [before, sha]
    assert git(git_repo, "show", f"{merge}:strategies/s/p") == "1"
    assert forge.merge(n, head_sha=sha, message="again\n") == merge
    assert forge.get_pull(n).state == "merged"


def test_a_branch_that_moved_after_benchmarking_is_not_merged(git_repo: Path) -> None:
    repo = Repo(git_repo)
    forge = LocalForge(repo)
    sha = branch_with_change(repo, "b", {"p": b"1"})
    n = open_one(forge, "b", sha)
    moved = repo.commit_tree(
        repo.write_tree(sha, replace={"x": {"y": b"z"}}), parents=[sha], message="push\n"
    )
    repo.update_ref("refs/heads/b", moved, old=sha, reason="a person pushed")
    with pytest.raises(ForgeError, match="head moved"):
        forge.merge(n, head_sha=sha, message="m\n")
    assert forge.get_pull(n).state == "open"


def test_close_keeps_the_record_and_refuses_a_later_merge(git_repo: Path) -> None:
    repo = Repo(git_repo)
    forge = LocalForge(repo)
    sha = branch_with_change(repo, "b", {"p": b"1"})
    n = open_one(forge, "b", sha)
    forge.close(n, reason="S below the elite")
    pull = forge.get_pull(n)
    assert pull.state == "closed" and "S below the elite" in pull.comments[-1].body
    with pytest.raises(ForgeError, match="is closed"):
        forge.merge(n, head_sha=sha, message="m\n")


def test_statuses_and_labels(git_repo: Path) -> None:
    repo = Repo(git_repo)
    forge = LocalForge(repo)
    sha = branch_with_change(repo, "b", {"p": b"1"})
    n = open_one(forge, "b", sha)
    forge.set_status(n, context="augnes/benchmark", sha=sha, state="success", description="ok")
    forge.set_labels(n, ["augnes", "augnes:benchmarked"])
    pull = forge.get_pull(n)
    assert pull.statuses["augnes/benchmark"].state == "success"
    assert pull.labels == ["augnes", "augnes:benchmarked"]


def test_a_corrupt_record_is_named(git_repo: Path) -> None:
    repo = Repo(git_repo)
    forge = LocalForge(repo)
    n = open_one(forge, "b", branch_with_change(repo, "b", {"p": b"1"}))
    (forge.folder / f"{n:06d}.json").write_text("{")
    with pytest.raises(ForgeError, match="unreadable pull request record"):
        forge.get_pull(n)
