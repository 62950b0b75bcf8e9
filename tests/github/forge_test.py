"""GitHubForge against the emulator: idempotence, labels, the sticky comment, statuses,
merging by SHA, closing with a reason, and the retry policy."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.errors import ForgeError
from bot.forge.github_forge import GitHubForge
from tests.conftest import git
from tests.github.emulator import Emulator, Fault

BRANCH = "augnes/g001/c-1111111"


def forge(github: Emulator, sleeps: list[float] | None = None) -> GitHubForge:
    return GitHubForge(
        "octo/evolving",
        token="bot-token",
        base_url=github.url,
        write_spacing=0,
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
    )


def benchmarked(f: GitHubForge, number: int, sha: str) -> None:
    f.set_status(number, context="augnes/benchmark", sha=sha, state="success", description="ok")


def opened(github: Emulator, f: GitHubForge):  # type: ignore[no-untyped-def]
    sha = github.branch_sha(BRANCH)
    assert sha
    return f.open_pull(
        branch=BRANCH,
        base="main",
        title="[augnes g001] c-1111111",
        body="why",
        head_sha=sha,
        labels=["augnes", "augnes:benchmarking"],
    )


def test_open_is_idempotent_and_labels_are_created(github: Emulator) -> None:
    f = forge(github)
    first = opened(github, f)
    again = opened(github, forge(github))
    assert first.number == again.number and len(github.pulls) == 1
    assert set(github.labels) == {"augnes", "augnes:benchmarking"}
    assert github.pulls[first.number].labels == ["augnes", "augnes:benchmarking"]
    assert f.find_pull(BRANCH) is not None and f.find_pull("augnes/none") is None


def test_a_pull_that_already_exists_counts_as_found(github: Emulator) -> None:
    first = opened(github, forge(github))
    # another run made it already: GitHub's 422 "already exists" leads to it
    assert opened(github, forge(github)).number == first.number
    assert [s for _, op, s in github.log if op == "pulls/create"] == [201, 422]
    assert len(github.pulls) == 1


def test_sticky_comment_is_edited_in_place(github: Emulator) -> None:
    f = forge(github)
    pull = opened(github, f)
    f.sticky_comment(
        pull.number, marker="<!-- augnes:report -->", body="one <!-- augnes:report -->"
    )
    f.sticky_comment(
        pull.number, marker="<!-- augnes:report -->", body="two <!-- augnes:report -->"
    )
    bodies = [c["body"] for c in github.comments.values()]
    assert bodies == ["two <!-- augnes:report -->"]
    full = f.get_pull(pull.number)
    assert [c.body for c in full.comments] == bodies and full.comments[0].author == "augnes-bot"


def test_status_and_merge_by_the_benchmarked_sha(github: Emulator) -> None:
    f = forge(github)
    pull = opened(github, f)
    benchmarked(f, pull.number, pull.head_sha)
    assert f.get_pull(pull.number).statuses["augnes/benchmark"].state == "success"
    merge = f.merge(
        pull.number,
        head_sha=pull.head_sha,
        message="Merge c-1111111\n\nAugnes-Candidate: c-1111111",
    )
    assert github.git("rev-parse", "main") == merge
    assert github.git("rev-parse", f"{merge}^2") == pull.head_sha  # a real merge commit
    assert f.merge(pull.number, head_sha=pull.head_sha, message="again") == merge  # idempotent
    assert f.get_pull(pull.number).state == "merged"


def test_a_branch_that_moved_is_not_merged(github: Emulator) -> None:
    f = forge(github)
    pull = opened(github, f)
    work = github.work  # type: ignore[attr-defined]
    (work / "strategy.txt").write_text("a person's change\n")
    git(work, "commit", "-qam", "human")
    git(work, "push", "-q", str(github.bare), BRANCH)
    with pytest.raises(ForgeError, match="head moved after benchmarking"):
        f.merge(pull.number, head_sha=pull.head_sha, message="Merge")
    assert github.pulls[pull.number].state == "open"


def test_close_says_why_once(github: Emulator) -> None:
    f = forge(github)
    pull = opened(github, f)
    f.close(pull.number, reason="S 0.41 below the niche elite's 0.48 + margin")
    f.close(pull.number, reason="S 0.41 below the niche elite's 0.48 + margin")
    assert f.get_pull(pull.number).state == "closed"
    assert [c["body"].splitlines()[0] for c in github.comments.values()] == [
        "Closed: S 0.41 below the niche elite's 0.48 + margin"
    ]


def test_reads_are_retried_on_5xx_and_rate_limits_are_waited_out(github: Emulator) -> None:
    sleeps: list[float] = []
    f = forge(github, sleeps)
    github.faults.append(Fault("pulls/list", 502, times=2))
    github.faults.append(
        Fault(
            "pulls/create",
            403,
            headers={"Retry-After": "7"},
            body={"message": "You have exceeded a secondary rate limit.", "documentation_url": "x"},
        )
    )
    assert f.find_pull(BRANCH) is None  # two 502s, then the answer
    pull = opened(github, f)  # refused once for a secondary rate limit, then made
    assert pull.number == 1 and len(github.pulls) == 1
    assert sleeps == [1.0, 2.0, 7.0]


def test_a_5xx_on_create_makes_no_duplicate(github: Emulator) -> None:
    # the pull request is made, but the answer is lost: GitHub's edge returns 502
    github.faults.append(Fault("pulls/create", 502, applied=True))
    pull = opened(github, forge(github))
    assert len(github.pulls) == 1 and pull.number == 1
    assert [s for _, op, s in github.log if op == "pulls/create"] == [502]


def test_writes_are_not_retried_on_5xx_without_a_way_to_check(github: Emulator) -> None:
    f = forge(github)
    pull = opened(github, f)
    github.faults.append(Fault("repos/create-commit-status", 502, times=3))
    with pytest.raises(ForgeError, match="cannot be checked"):
        f.set_status(
            pull.number,
            context="augnes/benchmark",
            sha=pull.head_sha,
            state="success",
            description="x",
        )
    assert sum(1 for m, op, _ in github.log if op == "repos/create-commit-status") == 1


def test_a_github_app_authenticates_with_an_installation_token(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    emulator = Emulator(bare, app=(4242, public)).start()
    try:
        f = GitHubForge(
            "octo/evolving", app=("4242", private, None), base_url=emulator.url, write_spacing=0
        )
        assert f.login == "augnes[bot]"
        assert [op for _, op, _ in emulator.log] == [
            "apps/get-repo-installation",
            "apps/create-installation-access-token",
            "users/get-authenticated",
        ]
        wrong = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = wrong.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        with pytest.raises(Exception, match="401"):
            GitHubForge("octo/evolving", app=("4242", forged, None), base_url=emulator.url)
    finally:
        emulator.stop()
    assert emulator.violations == []


def test_push_is_atomic_and_never_forced(github: Emulator) -> None:
    work = github.work  # type: ignore[attr-defined]
    f = GitHubForge(
        "octo/evolving", token="bot-token", base_url=github.url, remote=str(github.bare)
    )
    git(work, "checkout", "-q", "-b", "augnes/g002/c-2222222", "main")
    (work / "strategy.txt").write_text("second child\n")
    git(work, "add", "strategy.txt")
    git(work, "commit", "-q", "-m", "second child")
    sha = git(work, "rev-parse", "HEAD")
    f.push(work, ["augnes/g002/c-2222222", f"{sha}:refs/augnes/archive/c-2222222"])
    assert github.branch_sha("augnes/g002/c-2222222") == sha
    assert github.git("rev-parse", "refs/augnes/archive/c-2222222") == sha
    # a person's commit on the remote branch: the bot's older view is refused, nothing moves
    git(work, "commit", "-q", "--allow-empty", "-m", "a person's commit")
    git(work, "push", "-q", str(github.bare), "augnes/g002/c-2222222")
    git(work, "reset", "-q", "--hard", sha)
    git(work, "commit", "-q", "--allow-empty", "-m", "the bot's rewrite")
    with pytest.raises(ForgeError, match="refused"):
        f.push(work, ["augnes/g002/c-2222222", "main:refs/augnes/archive/c-3333333"])
    assert "c-3333333" not in github.git("for-each-ref", "refs/augnes/archive")


def test_dispatch_starts_a_workflow(github: Emulator) -> None:
    forge(github).dispatch("evaluate.yml", ref="main", inputs={"candidates": "c-1111111"})
    assert github.dispatches == [
        {"workflow": "evaluate.yml", "ref": "main", "inputs": {"candidates": "c-1111111"}}
    ]


def test_one_candidates_requests(github: Emulator) -> None:
    """The requests one candidate costs from proposal to merge (the measured budget)."""
    f = forge(github)
    f.ensure_labels(["augnes", "augnes:benchmarking", "augnes:benchmarked", "augnes:selected"])
    github.log.clear()
    pull = opened(github, f)
    benchmarked(f, pull.number, pull.head_sha)
    f.set_labels(pull.number, ["augnes", "augnes:benchmarked"], transient=True)  # superseded
    f.sticky_comment(pull.number, marker="<!-- augnes:report -->", body="r <!-- augnes:report -->")
    f.merge(pull.number, head_sha=pull.head_sha, message="Merge")
    f.set_labels(pull.number, ["augnes", "augnes:selected"])
    f.flush()  # nothing is held back any more
    writes = [op for m, op, _ in github.log if m != "GET"]
    reads = [op for m, op, _ in github.log if m == "GET"]
    assert writes == [
        "pulls/create",
        "issues/set-labels",
        "repos/create-commit-status",
        "issues/create-comment",
        "pulls/merge",
        "issues/set-labels",
    ]
    assert reads == ["users/get-authenticated", "issues/list-comments"]


def test_a_transient_label_waits_and_is_written_if_nothing_replaces_it(github: Emulator) -> None:
    f = forge(github)
    pull = opened(github, f)
    f.set_labels(pull.number, ["augnes", "augnes:benchmarked"], transient=True)
    assert github.pulls[pull.number].labels == ["augnes", "augnes:benchmarking"]
    f.flush()
    assert github.pulls[pull.number].labels == ["augnes", "augnes:benchmarked"]
