"""The GitHub forge: pull requests, labels, comments and statuses through GitHub's REST API,
with PyGithub.

Polite and idempotent. Reads are retried on 5xx answers with backoff; a write is retried only
when GitHub refused it (a rate limit, primary or secondary, honouring Retry-After), never
after a 5xx, which may have been applied: then the forge reads to find out, and writes again
only if nothing is there. Writes are spaced (`write_spacing`). A rerun finds its pull
request, labels, sticky comment and statuses instead of making new ones, and a 422 "already
exists" counts as found. Merges pass the benchmarked head SHA, so a branch that moved after
benchmarking is not merged.
"""

from __future__ import annotations

import base64
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from bot.errors import ForgeError
from bot.forge import Comment, HeadMoved, PullRequest, PullState, Status, relabelled

T = TypeVar("T")
StatusState = Literal["pending", "success", "failure", "error"]
RETRYABLE = (500, 502, 503, 504)
LABEL_COLOURS = {
    "augnes": ("5319e7", "Opened by Augnes"),
    "augnes:benchmarking": ("fbca04", "Augnes: being evaluated"),
    "augnes:benchmarked": ("0e8a16", "Augnes: evaluated, awaiting selection"),
    "augnes:selected": ("1d76db", "Augnes: merged by selection"),
    "augnes:rejected": ("b60205", "Augnes: closed by selection (reason in the report)"),
    "augnes:stop": ("000000", "Humans: the bot leaves this pull request alone"),
    "augnes:pin": ("c5def5", "Humans: keep this candidate open"),
    "augnes:rerun": ("d4c5f9", "Humans: evaluate this candidate again"),
    "augnes:dashboard": ("5319e7", "Augnes: the evolution dashboard (pin it)"),
}


class GitHubForge:
    name = "github"

    def __init__(
        self,
        repository: str,
        *,
        token: str | None = None,
        app: tuple[str, str, int | None] | None = None,
        base_url: str = "https://api.github.com",
        bot_login: str | None = None,
        write_spacing: float = 1.0,
        remote: str | None = None,
        attempts: int = 5,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Authenticate with `token` (GITHUB_TOKEN, a personal or installation token) or as
        a GitHub App: `app` = (app id, private key PEM, installation id or None to look it
        up for this repository); the installation token is renewed before it expires."""
        from github import Auth, Github, GithubIntegration

        if "/" not in repository:
            raise ForgeError(f"GitHub repository {repository!r}: expected owner/name")
        self.owner, self.name_ = repository.split("/", 1)
        auth: Auth.Auth
        if token:
            auth = Auth.Token(token)
        elif app is not None:
            app_id, key, installation = app
            app_auth = Auth.AppAuth(app_id, key)
            if installation is None:
                integration = GithubIntegration(auth=app_auth, base_url=base_url)
                installation = integration.get_repo_installation(self.owner, self.name_).id
            auth = app_auth.get_installation_auth(installation)
        else:
            raise ForgeError(
                "no GitHub credentials: set GITHUB_TOKEN, or AUGNES_APP_ID and "
                "AUGNES_APP_PRIVATE_KEY for a GitHub App"
            )
        self.gh = Github(
            base_url=base_url,
            auth=auth,
            retry=None,  # retries are decided here: GET only, and writes GitHub refused
            seconds_between_requests=None,
            seconds_between_writes=write_spacing or None,
            lazy=True,
        )
        self.repo = self.gh.get_repo(repository)  # lazy: no request yet
        self.repo_url = f"{base_url.rstrip('/')}/repos/{repository}"
        self._token = token
        self._auth = auth  # an App's installation token is renewed by it
        self.remote = remote or _git_remote(base_url, repository)
        self._login = bot_login
        self._labels: set[str] = set()
        self._held: dict[int, tuple[list[str], tuple[str, ...]]] = {}
        # each pull request's labels as last read or written: the bot replaces only its own,
        # and GitHub's PUT takes the whole list
        self._seen: dict[int, list[str]] = {}
        self.attempts = attempts
        self.backoff = backoff
        self.sleep = sleep

    # ---- the retry policy -------------------------------------------------------------------
    def _wait(self, exc: Any, attempt: int) -> bool:
        """Sleep before another attempt, if `exc` says one may help. Rate limits wait for
        Retry-After (or the reset time); 5xx answers back off exponentially."""
        status = getattr(exc, "status", None)
        headers = {k.lower(): v for k, v in (getattr(exc, "headers", None) or {}).items()}
        limited = status in (403, 429) and (
            "retry-after" in headers
            or headers.get("x-ratelimit-remaining") == "0"
            or "rate limit" in str(getattr(exc, "data", "")).lower()
        )
        if attempt + 1 >= self.attempts or not (limited or status in RETRYABLE):
            return False
        if "retry-after" in headers:
            delay = float(headers["retry-after"])
        elif limited and "x-ratelimit-reset" in headers:
            delay = max(1.0, float(headers["x-ratelimit-reset"]) - time.time())
        else:
            delay = self.backoff * 2**attempt
        self.sleep(delay)
        return True

    def _read(self, fn: Callable[[], T]) -> T:
        from github import GithubException

        for attempt in range(self.attempts):
            try:
                return fn()
            except GithubException as exc:
                if not self._wait(exc, attempt):
                    raise
        raise AssertionError("unreachable")

    def _write(self, fn: Callable[[], T], *, reconcile: Callable[[], T | None] | None = None) -> T:
        """A write: again after a refusal (rate limit); after a 5xx, only if `reconcile` (a
        read) shows that it did not happen."""
        from github import GithubException

        for attempt in range(self.attempts):
            try:
                return fn()
            except GithubException as exc:
                if exc.status in RETRYABLE:
                    found = self._read(reconcile) if reconcile is not None else None
                    if found is not None:
                        return found
                    if reconcile is None or not self._wait(exc, attempt):
                        raise ForgeError(
                            f"GitHub answered {exc.status} to a write and it cannot be "
                            f"checked whether it happened: {exc.data}"
                        ) from None
                    continue
                if not self._wait(exc, attempt):
                    raise
        raise ForgeError("GitHub kept refusing a write (rate limited)")

    # ---- who we are -------------------------------------------------------------------------
    @property
    def login(self) -> str:
        """The bot's login: configured, or asked once (GET /user)."""
        if self._login is None:
            self._login = self._read(lambda: self.gh.get_user().login)
        return self._login

    # ---- pull requests ----------------------------------------------------------------------
    def _convert(self, pr: Any) -> PullRequest:
        """Attributes, not raw_data: reading raw_data of a listed object fetches it again."""
        merged = pr.merged_at is not None
        state: PullState = "merged" if merged else ("open" if pr.state == "open" else "closed")
        self._seen[pr.number] = [label.name for label in pr.labels]
        return PullRequest(
            number=pr.number,
            branch=pr.head.ref,
            base=pr.base.ref,
            title=pr.title,
            body=pr.body or "",
            head_sha=pr.head.sha,
            state=state,
            labels=[label.name for label in pr.labels],
            merge_commit=pr.merge_commit_sha if merged else None,
            created=_iso(pr.created_at),
            updated=_iso(pr.updated_at),
        )

    def _mine(self, number: int, marker: str) -> list[Any]:
        login = self.login
        return [
            c
            for c in self._issue(number).get_comments()
            if c.user.login == login and marker in (c.body or "")
        ]

    def find_pull(self, branch: str) -> PullRequest | None:
        """The newest pull request from `branch`, whatever its state."""

        def newest() -> PullRequest | None:
            found = self.repo.get_pulls(state="all", head=f"{self.owner}:{branch}")
            for pr in found:
                if pr.head.ref == branch:
                    return self._convert(pr)
            return None

        return self._read(newest)

    def open_pull(
        self, *, branch: str, base: str, title: str, body: str, head_sha: str, labels: Sequence[str]
    ) -> PullRequest:
        from github import GithubException

        # No look first: callers (the loop) have just looked, and "already exists" or a
        # lost answer is resolved by looking then.
        try:
            existing = self._write(
                lambda: self._convert(
                    self.repo.create_pull(title=title, body=body, head=branch, base=base)
                ),
                reconcile=lambda: self.find_pull(branch),
            )
        except GithubException as exc:
            found = self.find_pull(branch) if exc.status == 422 else None
            if found is None:
                raise ForgeError(
                    f"GitHub refused the pull request for {branch}: {exc.data}"
                ) from None
            existing = found
        if labels and set(labels) - set(existing.labels):
            self.set_labels(existing.number, labels)
            existing.labels = list(dict.fromkeys(labels))
        return existing

    def get_pull(self, number: int) -> PullRequest:
        """The pull request with its comments and latest statuses (three reads)."""
        pull = self._read(lambda: self._convert(self.repo.get_pull(number)))
        pull.comments = self._read(
            lambda: [
                Comment(c.user.login, c.body or "", _iso(c.updated_at))
                for c in self._issue(number).get_comments()
            ]
        )
        combined = self._read(lambda: self.repo.get_commit(pull.head_sha).get_combined_status())
        for s in combined.statuses:
            state = cast(StatusState, s.state)
            pull.statuses[s.context] = Status(pull.head_sha, state, s.description or "")
        return pull

    def list_pulls(self, *, state: PullState | None = None) -> list[PullRequest]:
        query = "open" if state == "open" else "all"
        pulls = self._read(lambda: [self._convert(p) for p in self.repo.get_pulls(state=query)])
        return [p for p in pulls if state is None or p.state == state]

    def _issue(self, number: int) -> Any:
        return self.repo.get_issue(number)  # lazy: no request

    # ---- labels, comments, statuses ---------------------------------------------------------
    def ensure_labels(self, names: Sequence[str]) -> None:
        """Create the labels that do not exist yet; one that appears meanwhile is fine."""
        for name in names:
            if name not in self._labels:
                self._ensure_label(name)
                self._labels.add(name)

    def _ensure_label(self, name: str) -> None:
        from github import GithubException, UnknownObjectException

        try:
            self._read(
                lambda: self.gh.requester.requestJsonAndCheck(
                    "GET", f"{self.repo_url}/labels/{name}"
                )
            )
            return
        except UnknownObjectException:
            pass
        colour, description = LABEL_COLOURS.get(name, ("ededed", "Augnes"))
        try:
            self._write(lambda: self.repo.create_label(name, colour, description))
        except GithubException as exc:
            if not (exc.status == 422 and "already_exists" in str(exc.data)):
                raise

    def set_labels(
        self,
        number: int,
        labels: Sequence[str],
        *,
        transient: bool = False,
        drop: Sequence[str] = (),
    ) -> None:
        """One write (and a read when the labels were not seen yet); a transient state waits
        for `flush` and is dropped if the decision (merge, close, final labels) comes first —
        it would be overwritten within seconds."""
        ours = list(dict.fromkeys(labels))
        if transient:
            self._held[number] = (ours, tuple(drop))
            return
        self._held.pop(number, None)
        names = relabelled(self._current(number), ours, drop)
        self.ensure_labels(ours)
        # the documented body is {"labels": [...]}; PyGithub's set_labels sends a bare list
        self._write(
            lambda: self.gh.requester.requestJsonAndCheck(
                "PUT", f"{self.repo_url}/issues/{number}/labels", input={"labels": names}
            )
        )
        self._seen[number] = names

    def _current(self, number: int) -> list[str]:
        seen = self._seen.get(number)
        return list(seen) if seen is not None else self.labels(number)

    def labels(self, number: int) -> list[str]:
        """One read: the issue's labels endpoint."""
        found = self._read(
            lambda: self.gh.requester.requestJsonAndCheck(
                "GET", f"{self.repo_url}/issues/{number}/labels"
            )[1]
        )
        self._seen[number] = names = [str(label["name"]) for label in found]
        return list(names)

    def flush(self) -> None:
        for number, (names, drop) in list(self._held.items()):
            self.set_labels(number, names, drop=drop)

    def sticky_comment(self, number: int, *, marker: str, body: str) -> None:
        """One comment per marker by the bot, found by its login and the marker, edited in
        place."""
        mine = self._read(lambda: self._mine(number, marker))
        if mine:
            if mine[0].body != body:
                self._write(lambda: mine[0].edit(body))
            return
        self._write(
            lambda: self._issue(number).create_comment(body),
            reconcile=lambda: next(iter(self._mine(number, marker)), None),
        )

    def set_status(
        self, number: int, *, context: str, sha: str, state: str, description: str
    ) -> None:
        commit = self.repo.get_commit(sha)  # lazy: no request
        self._write(lambda: commit.create_status(state, description=description, context=context))

    def dashboard(self, *, title: str, label: str, body: str) -> None:
        """The open issue labelled `label` gets `body` (one read, one write); the first time
        it is created. Pinning it is left to a person: REST cannot pin issues."""
        self.ensure_labels([label])
        found = self._read(
            lambda: self.gh.requester.requestJsonAndCheck(
                "GET", f"{self.repo_url}/issues", parameters={"labels": label, "state": "open"}
            )[1]
        )
        if found:
            number = found[0]["number"]
            self._write(
                lambda: self.gh.requester.requestJsonAndCheck(
                    "PATCH",
                    f"{self.repo_url}/issues/{number}",
                    input={"title": title, "body": body},
                )
            )
            return
        self._write(
            lambda: self.gh.requester.requestJsonAndCheck(
                "POST",
                f"{self.repo_url}/issues",
                input={"title": title, "body": body, "labels": [label]},
            ),
            reconcile=lambda: (
                self.gh.requester.requestJsonAndCheck(
                    "GET", f"{self.repo_url}/issues", parameters={"labels": label, "state": "open"}
                )[1]
                or None
            ),
        )

    # ---- git and workflows ------------------------------------------------------------------
    def push(self, repo_root: Path, refspecs: Sequence[str]) -> None:
        """Push branches and archive refs in one atomic push. Never forced: a branch that a
        person pushed to is refused, and stays theirs. The token reaches git through its
        environment as an HTTP header, never in a URL, a command line or .git/config."""
        if not refspecs:
            return
        done = subprocess.run(
            ["git", "push", "--atomic", "--porcelain", self.remote, *refspecs],
            cwd=repo_root,
            env=self._git_env(),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            rejected = [line for line in done.stdout.splitlines() if line.startswith("!")]
            raise ForgeError(
                f"git push to {self.remote} was refused: "
                f"{'; '.join(rejected) or done.stderr.strip()[-500:]}"
            )

    def publish(self, root: Path, refs: Sequence[str]) -> None:
        self.push(root, [f"{ref}:{ref}" for ref in refs])

    def sync(self, root: Path, branch: str) -> None:
        """Fetch the forge's `branch` and fast-forward the local one to it. A local branch
        ahead of it (a lineage commit not pushed yet) stays; one that has diverged is an
        error that names both commits."""
        remote_ref = f"refs/augnes/remote/{branch}"
        self._git(root, "fetch", "--quiet", self.remote, f"+refs/heads/{branch}:{remote_ref}")
        theirs = self._git(root, "rev-parse", remote_ref)
        ours = self._git(root, "rev-parse", f"refs/heads/{branch}")
        if (
            theirs == ours
            or self._git(root, "merge-base", "--is-ancestor", theirs, ours, check=False) == "ok"
        ):
            return
        if self._git(root, "merge-base", "--is-ancestor", ours, theirs, check=False) != "ok":
            raise ForgeError(
                f"{branch} has diverged: here {ours[:10]}, on GitHub {theirs[:10]}; "
                "reconcile them, then run again"
            )
        self._git(root, "update-ref", f"refs/heads/{branch}", theirs, ours)

    def fetch(self, root: Path, ref: str) -> None:
        listed = self._git(root, "ls-remote", self.remote, ref)
        if not listed:
            self._git(root, "update-ref", "-d", ref, check=False)
            return
        self._git(root, "fetch", "--quiet", self.remote, f"+{ref}:{ref}")

    def retract(self, root: Path, refs: Sequence[str]) -> None:
        self.push(root, [f":{ref}" for ref in refs])

    def remote_branches(self, root: Path, prefix: str) -> list[str]:
        listed = self._git(root, "ls-remote", "--heads", self.remote)
        names = (line.split("\t", 1)[1] for line in listed.splitlines() if "\t" in line)
        return [
            n.removeprefix("refs/heads/") for n in names if n.startswith(f"refs/heads/{prefix}")
        ]

    def _git(self, root: Path, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            ["git", *args], cwd=root, env=self._git_env(), capture_output=True, text=True
        )
        if not check:
            return "ok" if done.returncode == 0 else ""
        if done.returncode != 0:
            raise ForgeError(
                f"git {args[0]} with {self.remote} failed: {done.stderr.strip()[-500:]}"
            )
        return done.stdout.strip()

    def _git_env(self) -> dict[str, str]:
        env = dict(os.environ)
        token = self._token or getattr(self._auth, "token", None)
        if token and self.remote.startswith("https://"):
            basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
            env.update(
                {
                    "GIT_CONFIG_COUNT": "1",
                    "GIT_CONFIG_KEY_0": f"http.{self.remote}.extraheader",
                    "GIT_CONFIG_VALUE_0": f"Authorization: basic {basic}",
                    "GIT_TERMINAL_PROMPT": "0",
                }
            )
        return env

    def dispatch(self, workflow: str, *, ref: str, inputs: dict[str, str]) -> None:
        """Start `workflow` (a file name under .github/workflows) on `ref`."""
        self._write(
            lambda: self.gh.requester.requestJsonAndCheck(
                "POST",
                f"{self.repo_url}/actions/workflows/{workflow}/dispatches",
                input={"ref": ref, "inputs": inputs},
            )
        )

    # ---- deciding ---------------------------------------------------------------------------
    def merge(self, number: int, *, head_sha: str, message: str) -> str:
        """A merge commit (never squash: the parent edge must survive) of the benchmarked
        head; refuses, with the reason, if the branch moved."""
        from github import GithubException

        title, _, rest = message.partition("\n")

        def merged() -> str | None:
            pull = self._convert(self.repo.get_pull(number))
            return pull.merge_commit if pull.state == "merged" else None

        def write() -> str:
            pull = self.repo.get_pull(number)  # lazy
            done = pull.merge(
                commit_message=rest.strip(), commit_title=title, merge_method="merge", sha=head_sha
            )
            return str(done.sha)

        try:
            return self._write(write, reconcile=merged)
        except GithubException as exc:
            done = self._read(merged)
            if done:
                return done
            if exc.status == 409:
                raise HeadMoved(
                    f"#{number}: the head moved after benchmarking ({head_sha[:10]} was "
                    "evaluated); it must be benchmarked again before it can merge"
                ) from None
            raise ForgeError(f"#{number} cannot be merged: {exc.data}") from None

    def close(
        self,
        number: int,
        *,
        reason: str,
        labels: Sequence[str] | None = None,
        comment: bool = True,
    ) -> None:
        """Close (a no-op when already closed) and set the labels in one write, through the
        issue that every pull request is; then say why, once, unless a report did."""
        self._held.pop(number, None)
        body: dict[str, Any] = {"state": "closed"}
        names = None
        if labels is not None:
            self.ensure_labels(labels)
            names = body["labels"] = relabelled(self._current(number), labels)
        self._write(
            lambda: self.gh.requester.requestJsonAndCheck(
                "PATCH", f"{self.repo_url}/issues/{number}", input=body
            )
        )
        if names is not None:
            self._seen[number] = names
        if comment:
            self.sticky_comment(
                number,
                marker="<!-- augnes:closed -->",
                body=f"Closed: {reason}\n\n<!-- augnes:closed -->",
            )


def _git_remote(base_url: str, repository: str) -> str:
    """The git URL beside an API URL: api.github.com → github.com; GHES /api/v3 → its host."""
    host = base_url.split("://", 1)[-1].split("/", 1)[0]
    host = "github.com" if host == "api.github.com" else host
    return f"https://{host}/{repository}.git"


def _iso(value: Any) -> str:
    return value.isoformat() if value is not None else ""
