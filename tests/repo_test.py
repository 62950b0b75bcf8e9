from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import RepoError
from bot.repo import Repo
from tests.conftest import commit_file, git


def test_write_tree_replaces_one_directory_like_git_would(git_repo: Path) -> None:
    base = commit_file(git_repo, "strategies/a/params.json", "{}\n")
    commit_file(git_repo, "strategies/b/params.json", '{"b": 1}\n')
    base = git(git_repo, "rev-parse", "HEAD")
    repo = Repo(git_repo)
    tree = repo.write_tree(
        base, replace={"strategies/a": {"params.json": b'{"x": 1}\n', "sub/deep.py": b"pass\n"}}
    )
    listing = git(git_repo, "ls-tree", "-r", "--name-only", tree).splitlines()
    assert listing == [
        "README.md",
        "strategies/a/params.json",
        "strategies/a/sub/deep.py",
        "strategies/b/params.json",
    ]
    assert git(git_repo, "cat-file", "-p", f"{tree}:strategies/a/params.json") == '{"x": 1}'
    # the same content written by git itself gives the same tree id
    (git_repo / "strategies/a/params.json").write_text('{"x": 1}\n')
    (git_repo / "strategies/a/sub").mkdir()
    (git_repo / "strategies/a/sub/deep.py").write_text("pass\n")
    git(git_repo, "add", "-A")
    assert git(git_repo, "write-tree") == tree


def test_write_tree_can_add_a_new_directory_and_remove_one(git_repo: Path) -> None:
    base = commit_file(git_repo, "lineage/old.txt", "x\n")
    repo = Repo(git_repo)
    added = repo.write_tree(base, replace={"deep/new/dir": {"f": b"1"}})
    assert "deep/new/dir/f" in git(git_repo, "ls-tree", "-r", "--name-only", added)
    removed = repo.write_tree(base, replace={"lineage": {}})
    assert "lineage" not in git(git_repo, "ls-tree", "--name-only", removed)


def test_commits_carry_parents_message_and_bot_identity(git_repo: Path) -> None:
    repo = Repo(git_repo)
    base = git(git_repo, "rev-parse", "HEAD")
    other = commit_file(git_repo, "x.txt", "x\n")
    tree = repo.write_tree(base, replace={"s": {"f": b"1"}})
    sha = repo.commit_tree(
        tree,
        parents=[base, other, base],
        message="subject\n\nAugnes-Candidate: c-1\nAugnes-Parent: c-0\n",
    )
    assert repo.parents(sha) == [base, other]
    assert repo.trailers(sha) == [("Augnes-Candidate", "c-1"), ("Augnes-Parent", "c-0")]
    assert git(git_repo, "log", "-1", "--format=%an <%ae>", sha) == "Augnes <augnes@localhost>"
    git(git_repo, "fsck", "--strict")


def test_update_ref_is_compare_and_swap(git_repo: Path) -> None:
    repo = Repo(git_repo)
    head = git(git_repo, "rev-parse", "HEAD")
    other = commit_file(git_repo, "y.txt", "y\n")
    repo.update_ref("refs/augnes/archive/c-1", head, old=None, reason="t")
    with pytest.raises(RepoError, match="changed under the bot"):
        repo.update_ref("refs/augnes/archive/c-1", other, old=None, reason="t")
    with pytest.raises(RepoError):
        repo.update_ref("refs/augnes/archive/c-1", other, old=other, reason="t")
    repo.update_ref("refs/augnes/archive/c-1", other, old=head, reason="t")
    assert repo.refs("refs/augnes/archive/") == {"refs/augnes/archive/c-1": other}


def test_merged_tree_and_ancestry(git_repo: Path) -> None:
    repo = Repo(git_repo)
    base = git(git_repo, "rev-parse", "HEAD")
    left = repo.commit_tree(
        repo.write_tree(base, replace={"a": {"f": b"1"}}), parents=[base], message="l\n"
    )
    right = repo.commit_tree(
        repo.write_tree(base, replace={"b": {"f": b"2"}}), parents=[base], message="r\n"
    )
    merged = repo.merged_tree(left, right)
    assert merged is not None
    assert set(git(git_repo, "ls-tree", "--name-only", merged).split()) == {"README.md", "a", "b"}
    clash = repo.commit_tree(
        repo.write_tree(base, replace={"a": {"f": b"3"}}), parents=[base], message="c\n"
    )
    assert repo.merged_tree(left, clash) is None
    assert repo.is_ancestor(base, left) and not repo.is_ancestor(left, right)


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(RepoError, match="not a git repository"):
        Repo(tmp_path)


def test_follow_carries_the_work_tree_along_and_keeps_every_local_edit(git_repo: Path) -> None:
    repo = Repo(git_repo)
    commit_file(git_repo, "a.txt", "1\n2\n3\n4\n5\n")
    commit_file(git_repo, "b.txt", "x\n")
    old = commit_file(git_repo, "c.txt", "keep\n")
    new = repo.commit_tree(  # what the bot commits on main meanwhile
        repo.write_files(old, {"a.txt": b"1\n2\n3\n4\nfive\n", "b.txt": b"y\n", "d.txt": b"d\n"}),
        parents=[old],
        message="bot\n",
    )
    repo.update_ref("refs/heads/main", new, old=old, reason="t")
    (git_repo / "a.txt").write_text("one\n2\n3\n4\n5\n")  # apart from the bot's change
    (git_repo / "b.txt").write_text("z\n")  # the very line the bot changed
    (git_repo / "c.txt").write_text("mine\n")  # a file the bot left alone
    (git_repo / "e.txt").write_text("new\n")

    assert repo.follow("main", old, new) == ["b.txt"]

    assert (git_repo / "a.txt").read_text() == "one\n2\n3\n4\nfive\n"  # both changes
    assert (git_repo / "b.txt").read_text() == "z\n"
    assert (git_repo / "c.txt").read_text() == "mine\n"
    assert (git_repo / "d.txt").read_text() == "d\n"
    assert git(git_repo, "diff", "--cached", "--name-only") == ""  # nothing staged
    assert [line.strip() for line in git(git_repo, "status", "--porcelain").splitlines()] == [
        "M a.txt",
        "M b.txt",
        "M c.txt",
        "?? e.txt",
    ]
    # the ordinary commit right after carries the person's edits only
    git(git_repo, "commit", "-qam", "mine")
    assert git(git_repo, "diff", "--stat", "--name-only", "HEAD~1", "HEAD").splitlines() == [
        "a.txt",
        "b.txt",
        "c.txt",
    ]
    assert git(git_repo, "show", "HEAD:a.txt").endswith("five")
    assert repo.follow("main", new, new) == []  # nothing to carry


def test_follow_leaves_a_work_tree_on_another_branch_alone(git_repo: Path) -> None:
    repo = Repo(git_repo)
    old = git(git_repo, "rev-parse", "HEAD")
    new = repo.commit_tree(repo.write_files(old, {"n.txt": b"n\n"}), parents=[old], message="n\n")
    repo.update_ref("refs/heads/main", new, old=old, reason="t")
    git(git_repo, "checkout", "-q", "-b", "feature", old)
    assert repo.follow("main", old, new) == []
    assert not (git_repo / "n.txt").exists()


def test_a_transaction_creates_and_moves_all_or_nothing(git_repo: Path) -> None:
    repo = Repo(git_repo)
    head = git(git_repo, "rev-parse", "HEAD")
    other = commit_file(git_repo, "z.txt", "z\n")
    repo.transaction(
        create={"refs/augnes/archive/c-1": head},
        move={"refs/heads/main": (head, other)},
        reason="t",
    )
    assert repo.existing(["refs/augnes/archive/c-1", "refs/augnes/archive/c-2"]) == {
        "refs/augnes/archive/c-1": head
    }
    assert repo.branch_sha("main") == head
    with pytest.raises(RepoError, match="a ref changed under the bot"):
        repo.transaction(
            create={"refs/augnes/archive/c-2": head, "refs/augnes/archive/c-1": other}, reason="t"
        )
    assert repo.existing(["refs/augnes/archive/c-2"]) == {}  # nothing of the failed transaction


def test_write_files_touches_only_the_named_files(git_repo: Path) -> None:
    commit_file(git_repo, "lineage/README.md", "keep me\n")
    base = commit_file(git_repo, "lineage/judgments.jsonl", "a\n")
    tree = Repo(git_repo).write_files(
        base, {"lineage/judgments.jsonl": b"a\nb\n", "lineage/new/x.json": b"{}"}
    )
    listing = git(git_repo, "ls-tree", "-r", "--name-only", tree).splitlines()
    assert listing == [
        "README.md",
        "lineage/README.md",
        "lineage/judgments.jsonl",
        "lineage/new/x.json",
    ]
    assert git(git_repo, "cat-file", "-p", f"{tree}:lineage/judgments.jsonl") == "a\nb"
    assert git(git_repo, "ls-tree", tree, "lineage/README.md").split()[0] == "100644"
