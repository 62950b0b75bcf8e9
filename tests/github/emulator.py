"""A stateful GitHub REST emulator on 127.0.0.1, backed by a real bare git repository.

It serves the operations in openapi-subset.json and nothing else. Every request it receives
and every response it sends is validated against that description (GitHub's own, trimmed),
except the 401 for bad credentials and injected faults; each mismatch is kept in
`violations`, and the `github` fixture fails the test that caused it. Pull requests follow their branches in the bare repository, and a merge is a real merge
commit there. Faults are injected on demand: a burst of 5xx answers, a secondary rate limit
with Retry-After, or a branch that moves right before a merge.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import logging
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from werkzeug.routing import Map, Rule
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.github.schema import STAMP, build, schema, spec

DOCS = "https://docs.github.com/rest"


@dataclass
class Fault:
    """The next `times` calls of `operation` are answered with `status` and `body`. With
    `applied`, the operation happens first and only its answer is lost (a 502 from GitHub's
    edge after the write); `before` runs first, then the call is served normally."""

    operation: str
    status: int = 502
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = field(default_factory=lambda: {"message": "Server Error"})
    applied: bool = False
    before: Callable[[], None] | None = None


@dataclass
class Pull:
    number: int
    branch: str
    base: str
    title: str
    body: str
    user: str
    state: str = "open"
    merged: bool = False
    merge_commit_sha: str | None = None
    labels: list[str] = field(default_factory=list)
    head_sha: str = ""  # the head when it was closed or merged; live otherwise


@dataclass
class Issue:
    number: int
    title: str
    body: str
    user: str
    state: str = "open"
    labels: list[str] = field(default_factory=list)


class Emulator:
    def __init__(
        self,
        bare: Path,
        *,
        owner: str = "octo",
        name: str = "evolving",
        tokens: dict[str, str] | None = None,
        app: tuple[int, str] | None = None,
    ) -> None:
        """`tokens` maps tokens to logins; `app` is a GitHub App (id, public key PEM) that
        can sign JWTs and exchange them for installation tokens (installation 77)."""
        self.bare = bare
        self.owner, self.name = owner, name
        self.tokens = tokens or {"bot-token": "augnes-bot"}
        self.app = app
        self.lock = threading.RLock()
        self.pulls: dict[int, Pull] = {}
        self.issues: dict[int, Issue] = {}
        self.comments: dict[int, dict[str, Any]] = {}
        self.labels: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, list[dict[str, Any]]] = {}
        self.dispatches: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.violations: list[str] = []
        self.log: list[tuple[str, str, int]] = []  # method, operation, status
        self._numbers = itertools.count(1)
        self._ids = itertools.count(1000)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.api = _described()
        rules = []
        for path, item in spec()["paths"].items():
            rule = path.replace("{ref}", "<path:ref>")
            for number in ("pull_number", "issue_number", "comment_id", "installation_id"):
                rule = rule.replace("{" + number + "}", f"<int:{number}>")
            rule = rule.replace("{", "<").replace("}", ">")
            for method, op in item.items():
                if method != "parameters":
                    rules.append(Rule(rule, endpoint=op["operationId"], methods=[method.upper()]))
        self.routes = Map(rules, merge_slashes=False)
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # ---- life -------------------------------------------------------------------------------
    def start(self) -> Emulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def repo_url(self) -> str:
        return f"{self.url}/repos/{self.owner}/{self.name}"

    def counts(self) -> dict[str, int]:
        reads = sum(1 for m, _, _ in self.log if m == "GET")
        return {"reads": reads, "writes": len(self.log) - reads}

    # ---- git --------------------------------------------------------------------------------
    def git(self, *args: str, input: str | None = None) -> str:
        done = subprocess.run(
            ["git", *args], cwd=self.bare, capture_output=True, text=True, input=input
        )
        if done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout.strip()

    def branch_sha(self, branch: str) -> str | None:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}"],
            cwd=self.bare,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip() or None

    def head_sha(self, pull: Pull) -> str:
        if pull.state == "open":
            return self.branch_sha(pull.branch) or pull.head_sha
        return pull.head_sha

    # ---- the server -------------------------------------------------------------------------
    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._handle(request)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        adapter = self.routes.bind_to_environ(request.environ)
        try:
            operation, args = adapter.match()
        except Exception:
            self.violations.append(f"{request.method} {request.path}: not in the description")
            return self._json(404, {"message": "Not Found", "documentation_url": DOCS})
        args = {k: unquote(v) if isinstance(v, str) else v for k, v in args.items()}
        try:
            self.api.validate_request(WerkzeugOpenAPIRequest(request))
        except Exception as exc:
            self.violations.append(f"request {operation}: {_why(exc)}")
        with self.lock:
            fault = next((f for f in self.faults if f.operation == operation and f.times), None)
            if fault is not None:
                fault.times -= 1
                if fault.before is not None:
                    fault.before()
                    fault = None
                elif not fault.applied:
                    self.log.append((request.method, operation, fault.status))
                    return self._json(fault.status, fault.body, fault.headers)
            auth = request.headers.get("Authorization", "")
            login = self._login(auth, operation)
            if login is None:
                # GitHub answers any operation so, though its description lists 401 for few:
                # like an injected fault, it is not checked against the operation
                self.log.append((request.method, operation, 401))
                return self._json(401, {"message": "Bad credentials", "documentation_url": DOCS})
            payload = request.get_json(silent=True) if request.data else None
            handler = getattr(self, "op_" + operation.replace("/", "_").replace("-", "_"))
            status, body, headers = handler(login, request, payload or {}, **args)
            if fault is not None:  # applied: the answer is lost on the way back
                self.log.append((request.method, operation, fault.status))
                return self._json(fault.status, fault.body, fault.headers)
            self.log.append((request.method, operation, status))
        response = self._json(status, body, headers)
        try:
            self.api.validate_response(
                WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response)
            )
        except Exception as exc:
            self.violations.append(f"response {operation} {status}: {_why(exc)}")
        return response

    def _login(self, auth: str, operation: str) -> str | None:
        """Who is asking: a token's user, or, for the apps/ operations, the App whose
        signed JWT (RS256, issued by its id, unexpired) checks out with its public key."""
        scheme, _, credential = auth.partition(" ")
        if operation.startswith("apps/"):
            if scheme.lower() != "bearer" or self.app is None:
                return None
            import jwt

            app_id, public_key = self.app
            try:
                claims = jwt.decode(credential, public_key, algorithms=["RS256"])
            except jwt.PyJWTError:
                return None
            return "app" if str(claims.get("iss")) == str(app_id) else None
        return self.tokens.get(credential)

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
        response = Response(
            "" if body is None else json.dumps(body),
            status=status,
            content_type="application/json; charset=utf-8",
        )
        used = len(self.log)
        response.headers.update(
            {
                "X-RateLimit-Limit": "5000",
                "X-RateLimit-Remaining": str(max(0, 5000 - used)),
                "X-RateLimit-Reset": "1893456000",
                "X-RateLimit-Used": str(used),
                "X-RateLimit-Resource": "core",
                "X-GitHub-Media-Type": "github.v3; format=json",
            }
        )
        response.headers.update(headers or {})
        return response

    # ---- objects ----------------------------------------------------------------------------
    def user(self, login: str) -> dict[str, Any]:
        return build(
            schema("simple-user"),
            {
                "login": login,
                "id": abs(hash(login)) % 10**7,
                "type": "Bot" if login.endswith("[bot]") else "User",
                "url": f"{self.url}/users/{login}",
                "html_url": f"https://github.invalid/{login}",
            },
        )

    def repository(self) -> dict[str, Any]:
        return build(
            schema("full-repository"),
            {
                "id": 1,
                "name": self.name,
                "full_name": f"{self.owner}/{self.name}",
                "owner": self.user(self.owner),
                "private": False,
                "default_branch": "main",
                "url": self.repo_url,
                "html_url": f"https://github.invalid/{self.owner}/{self.name}",
                "allow_merge_commit": True,
                "allow_squash_merge": False,
                "allow_rebase_merge": False,
                "network_count": 0,
                "subscribers_count": 0,
            },
        )

    def label(self, name: str) -> dict[str, Any]:
        known = self.labels[name]
        return build(
            schema("label"),
            {
                "id": known["id"],
                "name": name,
                "color": known["color"],
                "description": known["description"],
                "url": f"{self.repo_url}/labels/{name}",
            },
        )

    def pull(self, pr: Pull, *, simple: bool = False) -> dict[str, Any]:
        head = self.head_sha(pr)
        base_sha = self.branch_sha(pr.base) or ""
        url = f"{self.repo_url}/pulls/{pr.number}"
        issue_url = f"{self.repo_url}/issues/{pr.number}"
        repo = build(schema("repository"), {"name": self.name, "url": self.repo_url})
        given = {
            "id": pr.number,
            "number": pr.number,
            "state": "closed" if pr.state != "open" else "open",
            "title": pr.title,
            "body": pr.body,
            "user": self.user(pr.user),
            "labels": [self.label(n) for n in pr.labels],
            "head": {
                "ref": pr.branch,
                "sha": head,
                "label": f"{self.owner}:{pr.branch}",
                "repo": repo,
                "user": self.user(self.owner),
            },
            "base": {
                "ref": pr.base,
                "sha": base_sha,
                "label": f"{self.owner}:{pr.base}",
                "repo": repo,
                "user": self.user(self.owner),
            },
            "url": url,
            "issue_url": issue_url,
            "comments_url": f"{issue_url}/comments",
            "statuses_url": f"{self.repo_url}/statuses/{head}",
            "commits_url": f"{url}/commits",
            "review_comments_url": f"{url}/comments",
            "html_url": f"https://github.invalid/{self.owner}/{self.name}/pull/{pr.number}",
            "merge_commit_sha": pr.merge_commit_sha,
            "created_at": STAMP,
            "updated_at": STAMP,
            "closed_at": STAMP if pr.state != "open" else None,
            "merged_at": STAMP if pr.merged else None,
            "draft": False,
        }
        if simple:
            return build(schema("pull-request-simple"), given)
        given.update(
            merged=pr.merged,
            mergeable=pr.state == "open",
            mergeable_state="clean" if pr.state == "open" else "unknown",
            merged_by=self.user(self.owner) if pr.merged else None,
            comments=sum(1 for c in self.comments.values() if c["issue"] == pr.number),
        )
        return build(schema("pull-request"), given)

    def issue(self, number: int) -> dict[str, Any]:
        pr = self.pulls.get(number)
        item = pr or self.issues[number]
        url = f"{self.repo_url}/issues/{number}"
        given = {
            "id": number,
            "number": number,
            "title": item.title,
            "body": item.body,
            "user": self.user(item.user),
            "state": "closed" if item.state != "open" else "open",
            "labels": [self.label(n) for n in item.labels],
            "url": url,
            "comments_url": f"{url}/comments",
            "labels_url": f"{url}/labels{{/name}}",
            "repository_url": self.repo_url,
            "html_url": f"https://github.invalid/{self.owner}/{self.name}/issues/{number}",
            "comments": sum(1 for c in self.comments.values() if c["issue"] == number),
            "created_at": STAMP,
            "updated_at": STAMP,
        }
        if pr is not None:
            given["pull_request"] = {"url": f"{self.repo_url}/pulls/{number}"}
        return build(schema("issue"), given)

    def comment(self, cid: int) -> dict[str, Any]:
        c = self.comments[cid]
        return build(
            schema("issue-comment"),
            {
                "id": cid,
                "body": c["body"],
                "user": self.user(c["user"]),
                "url": f"{self.repo_url}/issues/comments/{cid}",
                "issue_url": f"{self.repo_url}/issues/{c['issue']}",
                "created_at": STAMP,
                "updated_at": STAMP,
            },
        )

    # ---- helpers ----------------------------------------------------------------------------
    @staticmethod
    def error(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> Any:
        body: dict[str, Any] = {"message": message, "documentation_url": DOCS}
        if errors is not None:
            body["errors"] = errors
        return status, body, {}

    def page(
        self, request: Request, items: list[Any], path: str
    ) -> tuple[list[Any], dict[str, str]]:
        per_page = int(request.args.get("per_page", 30))
        number = int(request.args.get("page", 1))
        chunk = items[(number - 1) * per_page : number * per_page]
        headers = {}
        if number * per_page < len(items):
            query = "&".join(f"{k}={v}" for k, v in request.args.items() if k not in ("page",))
            headers["Link"] = f'<{self.url}{path}?{query}&page={number + 1}>; rel="next"'
        return chunk, headers

    def _issue_or_404(self, number: int) -> Pull | Issue | None:
        return self.pulls.get(number) or self.issues.get(number)

    # ---- operations (named after GitHub's operationId) --------------------------------------
    def op_apps_get_repo_installation(
        self, login: str, request: Request, body: Any, owner: str, repo: str
    ) -> Any:
        return (
            200,
            build(
                schema("installation"),
                {
                    "id": 77,
                    "app_id": self.app[0] if self.app else 0,
                    "app_slug": "augnes",
                    "account": self.user(self.owner),
                    "target_type": "Organization",
                    "repository_selection": "selected",
                    "access_tokens_url": f"{self.url}/app/installations/77/access_tokens",
                    "permissions": {
                        "contents": "write",
                        "pull_requests": "write",
                        "issues": "write",
                        "statuses": "write",
                        "actions": "write",
                    },
                    "events": [],
                    "created_at": STAMP,
                    "updated_at": STAMP,
                },
            ),
            {},
        )

    def op_apps_create_installation_access_token(
        self, login: str, request: Request, body: Any, installation_id: int
    ) -> Any:
        if int(installation_id) != 77:
            return self.error(404, "Not Found")
        token = f"ghs_{next(self._ids)}"
        self.tokens[token] = "augnes[bot]"
        return (
            201,
            build(
                schema("installation-token"),
                {
                    "token": token,
                    "expires_at": "2099-01-01T00:00:00Z",
                    "permissions": {"contents": "write"},
                    "repository_selection": "selected",
                },
            ),
            {},
        )

    def op_users_get_authenticated(self, login: str, request: Request, body: Any) -> Any:
        user = self.user(login)
        user["user_view_type"] = "public"
        return 200, build(schema("public-user"), user), {}

    def op_repos_get(self, login: str, request: Request, body: Any, owner: str, repo: str) -> Any:
        return 200, self.repository(), {}

    def op_repos_get_branch(
        self, login: str, request: Request, body: Any, owner: str, repo: str, branch: str
    ) -> Any:
        sha = self.branch_sha(branch)
        if sha is None:
            return self.error(404, "Branch not found")
        return (
            200,
            build(schema("branch-with-protection"), {"name": branch, "commit": {"sha": sha}}),
            {},
        )

    def op_git_get_ref(
        self, login: str, request: Request, body: Any, owner: str, repo: str, ref: str
    ) -> Any:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "-q", f"refs/{ref}"],
            cwd=self.bare,
            capture_output=True,
            text=True,
        )
        if not done.stdout.strip():
            return self.error(404, "Not Found")
        sha = done.stdout.strip()
        return (
            200,
            build(
                schema("git-ref"),
                {
                    "ref": f"refs/{ref}",
                    "url": f"{self.repo_url}/git/refs/{ref}",
                    "object": {
                        "type": "commit",
                        "sha": sha,
                        "url": f"{self.repo_url}/git/commits/{sha}",
                    },
                },
            ),
            {},
        )

    def op_pulls_list(self, login: str, request: Request, body: Any, owner: str, repo: str) -> Any:
        state = request.args.get("state", "open")
        head = request.args.get("head")
        base = request.args.get("base")
        found = []
        for pr in sorted(self.pulls.values(), key=lambda p: -p.number):
            if state != "all" and (pr.state == "open") != (state == "open"):
                continue
            if head and head.split(":")[-1] != pr.branch:
                continue
            if base and base != pr.base:
                continue
            found.append(pr)
        chunk, headers = self.page(request, found, request.path)
        return 200, [self.pull(p, simple=True) for p in chunk], headers

    def op_pulls_create(
        self, login: str, request: Request, body: Any, owner: str, repo: str
    ) -> Any:
        branch = str(body.get("head", "")).split(":")[-1]
        base = str(body.get("base", ""))
        if self.branch_sha(branch) is None or self.branch_sha(base) is None:
            return self.error(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "PullRequest",
                        "field": "head" if self.branch_sha(branch) is None else "base",
                        "code": "invalid",
                    }
                ],
            )
        if any(p.branch == branch and p.state == "open" for p in self.pulls.values()):
            return self.error(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"A pull request already exists for {self.owner}:{branch}.",
                    }
                ],
            )
        number = next(self._numbers)
        self.pulls[number] = Pull(
            number, branch, base, str(body.get("title", "")), str(body.get("body") or ""), login
        )
        return 201, self.pull(self.pulls[number]), {"Location": f"{self.repo_url}/pulls/{number}"}

    def op_pulls_get(
        self, login: str, request: Request, body: Any, owner: str, repo: str, pull_number: int
    ) -> Any:
        pr = self.pulls.get(pull_number)
        if pr is None:
            return self.error(404, "Not Found")
        return 200, self.pull(pr), {}

    def op_pulls_update(
        self, login: str, request: Request, body: Any, owner: str, repo: str, pull_number: int
    ) -> Any:
        pr = self.pulls.get(pull_number)
        if pr is None:
            return self.error(404, "Not Found")
        pr.title = str(body.get("title", pr.title))
        pr.body = str(body.get("body", pr.body) or "")
        if body.get("state") == "closed" and pr.state == "open":
            pr.head_sha, pr.state = self.head_sha(pr), "closed"
        elif body.get("state") == "open" and pr.state == "closed" and not pr.merged:
            pr.state = "open"
        return 200, self.pull(pr), {}

    def op_pulls_merge(
        self, login: str, request: Request, body: Any, owner: str, repo: str, pull_number: int
    ) -> Any:
        pr = self.pulls.get(pull_number)
        if pr is None:
            return self.error(404, "Not Found")
        if pr.state != "open":
            return 405, {"message": "Pull Request is not mergeable", "documentation_url": DOCS}, {}
        head = self.head_sha(pr)
        if body.get("sha") and body["sha"] != head:
            return (
                409,
                {
                    "message": "Head branch was modified. Review and try the merge again.",
                    "documentation_url": DOCS,
                },
                {},
            )
        if body.get("merge_method", "merge") != "merge":
            return (
                405,
                {
                    "message": "Only merge commits are allowed on this repository.",
                    "documentation_url": DOCS,
                },
                {},
            )
        base = self.branch_sha(pr.base) or ""
        tree = subprocess.run(
            ["git", "merge-tree", "--write-tree", base, head],
            cwd=self.bare,
            capture_output=True,
            text=True,
        )
        if tree.returncode != 0:
            return 405, {"message": "Pull Request is not mergeable", "documentation_url": DOCS}, {}
        title = (
            body.get("commit_title")
            or f"Merge pull request #{pr.number} from {self.owner}/{pr.branch}"
        )
        message = title + ("\n\n" + body["commit_message"] if body.get("commit_message") else "")
        commit = self.git(
            "commit-tree", tree.stdout.split()[0], "-p", base, "-p", head, "-F", "-", input=message
        )
        self.git("update-ref", f"refs/heads/{pr.base}", commit, base)
        pr.state, pr.merged, pr.merge_commit_sha, pr.head_sha = "closed", True, commit, head
        return (
            200,
            {"sha": commit, "merged": True, "message": "Pull Request successfully merged"},
            {},
        )

    def op_issues_get(
        self, login: str, request: Request, body: Any, owner: str, repo: str, issue_number: int
    ) -> Any:
        if self._issue_or_404(issue_number) is None:
            return self.error(404, "Not Found")
        return 200, self.issue(issue_number), {}

    def op_issues_create(
        self, login: str, request: Request, body: Any, owner: str, repo: str
    ) -> Any:
        number = next(self._numbers)
        labels = [str(x) for x in body.get("labels", [])]
        for name in labels:
            self._ensure_label(name)
        self.issues[number] = Issue(
            number, str(body.get("title", "")), str(body.get("body") or ""), login, labels=labels
        )
        return 201, self.issue(number), {}

    def op_issues_update(
        self, login: str, request: Request, body: Any, owner: str, repo: str, issue_number: int
    ) -> Any:
        item = self._issue_or_404(issue_number)
        if item is None:
            return self.error(404, "Not Found")
        item.title = str(body.get("title", item.title))
        item.body = str(body.get("body", item.body) or "")
        if "labels" in body:
            item.labels = [str(x) for x in body["labels"]]
            for name in item.labels:
                self._ensure_label(name)
        if isinstance(item, Pull):  # a pull request is an issue too: this closes it
            if body.get("state") == "closed" and item.state == "open":
                item.head_sha, item.state = self.head_sha(item), "closed"
            elif body.get("state") == "open" and item.state == "closed" and not item.merged:
                item.state = "open"
        elif body.get("state") in ("open", "closed"):
            item.state = body["state"]
        return 200, self.issue(issue_number), {}

    def op_issues_list_for_repo(
        self, login: str, request: Request, body: Any, owner: str, repo: str
    ) -> Any:
        state = request.args.get("state", "open")
        wanted = [x for x in request.args.get("labels", "").split(",") if x]
        numbers = sorted({*self.pulls, *self.issues}, reverse=True)
        found = []
        for n in numbers:
            item = self._issue_or_404(n)
            assert item is not None
            if state != "all" and (item.state == "open") != (state == "open"):
                continue
            if any(w not in item.labels for w in wanted):
                continue
            found.append(n)
        chunk, headers = self.page(request, found, request.path)
        return 200, [self.issue(n) for n in chunk], headers

    def op_issues_list_comments(
        self, login: str, request: Request, body: Any, owner: str, repo: str, issue_number: int
    ) -> Any:
        if self._issue_or_404(issue_number) is None:
            return self.error(404, "Not Found")
        ids = sorted(c for c, v in self.comments.items() if v["issue"] == issue_number)
        chunk, headers = self.page(request, ids, request.path)
        return 200, [self.comment(c) for c in chunk], headers

    def op_issues_create_comment(
        self, login: str, request: Request, body: Any, owner: str, repo: str, issue_number: int
    ) -> Any:
        if self._issue_or_404(issue_number) is None:
            return self.error(404, "Not Found")
        cid = next(self._ids)
        self.comments[cid] = {
            "issue": issue_number,
            "body": str(body.get("body", "")),
            "user": login,
        }
        return 201, self.comment(cid), {"Location": f"{self.repo_url}/issues/comments/{cid}"}

    def op_issues_update_comment(
        self, login: str, request: Request, body: Any, owner: str, repo: str, comment_id: int
    ) -> Any:
        if comment_id not in self.comments:
            return self.error(404, "Not Found")
        self.comments[comment_id]["body"] = str(body.get("body", ""))
        return 200, self.comment(comment_id), {}

    def _ensure_label(self, name: str) -> None:
        if name not in self.labels:
            self.labels[name] = {"id": next(self._ids), "color": "ededed", "description": ""}

    def op_issues_list_labels_on_issue(
        self, login: str, request: Request, body: Any, owner: str, repo: str, issue_number: int
    ) -> Any:
        item = self._issue_or_404(issue_number)
        if item is None:
            return self.error(404, "Not Found")
        return 200, [self.label(n) for n in item.labels], {}

    def _labels_body(self, body: Any) -> list[str]:
        raw = body.get("labels", []) if isinstance(body, dict) else body
        return [x if isinstance(x, str) else str(x.get("name")) for x in raw]

    def op_issues_set_labels(
        self, login: str, request: Request, body: Any, owner: str, repo: str, issue_number: int
    ) -> Any:
        item = self._issue_or_404(issue_number)
        if item is None:
            return self.error(404, "Not Found")
        item.labels = list(dict.fromkeys(self._labels_body(body)))
        for name in item.labels:
            self._ensure_label(name)
        return 200, [self.label(n) for n in item.labels], {}

    def op_issues_add_labels(
        self, login: str, request: Request, body: Any, owner: str, repo: str, issue_number: int
    ) -> Any:
        item = self._issue_or_404(issue_number)
        if item is None:
            return self.error(404, "Not Found")
        item.labels = list(dict.fromkeys([*item.labels, *self._labels_body(body)]))
        for name in item.labels:
            self._ensure_label(name)
        return 200, [self.label(n) for n in item.labels], {}

    def op_issues_remove_label(
        self,
        login: str,
        request: Request,
        body: Any,
        owner: str,
        repo: str,
        issue_number: int,
        name: str,
    ) -> Any:
        item = self._issue_or_404(issue_number)
        if item is None or name not in item.labels:
            return self.error(404, "Label does not exist")
        item.labels.remove(name)
        return 200, [self.label(n) for n in item.labels], {}

    def op_issues_get_label(
        self, login: str, request: Request, body: Any, owner: str, repo: str, name: str
    ) -> Any:
        if name not in self.labels:
            return self.error(404, "Not Found")
        return 200, self.label(name), {}

    def op_issues_create_label(
        self, login: str, request: Request, body: Any, owner: str, repo: str
    ) -> Any:
        name = str(body.get("name", ""))
        if name in self.labels:
            return self.error(
                422,
                "Validation Failed",
                [{"resource": "Label", "code": "already_exists", "field": "name"}],
            )
        self.labels[name] = {
            "id": next(self._ids),
            "color": str(body.get("color", "ededed")),
            "description": body.get("description"),
        }
        return 201, self.label(name), {}

    def op_repos_create_commit_status(
        self, login: str, request: Request, body: Any, owner: str, repo: str, sha: str
    ) -> Any:
        status = build(
            schema("status"),
            {
                "id": next(self._ids),
                "state": body.get("state"),
                "context": body.get("context", "default"),
                "description": body.get("description"),
                "target_url": body.get("target_url"),
                "creator": self.user(login),
                "url": f"{self.repo_url}/statuses/{sha}",
                "created_at": STAMP,
                "updated_at": STAMP,
            },
        )
        self.statuses.setdefault(sha, []).insert(0, status)
        return 201, status, {}

    def _sha_of(self, ref: str) -> str:
        return self.branch_sha(ref) or ref

    def op_repos_list_commit_statuses_for_ref(
        self, login: str, request: Request, body: Any, owner: str, repo: str, ref: str
    ) -> Any:
        items = self.statuses.get(self._sha_of(ref), [])
        chunk, headers = self.page(request, items, request.path)
        return 200, chunk, headers

    def op_repos_get_combined_status_for_ref(
        self, login: str, request: Request, body: Any, owner: str, repo: str, ref: str
    ) -> Any:
        sha = self._sha_of(ref)
        latest: dict[str, dict[str, Any]] = {}
        for s in self.statuses.get(sha, []):
            latest.setdefault(s["context"], s)
        states = {s["state"] for s in latest.values()}
        state = (
            "failure"
            if states & {"failure", "error"}
            else "pending"
            if "pending" in states or not states
            else "success"
        )
        simple = [build(schema("simple-commit-status"), dict(s)) for s in latest.values()]
        return (
            200,
            build(
                schema("combined-commit-status"),
                {
                    "state": state,
                    "sha": sha,
                    "total_count": len(simple),
                    "statuses": simple,
                    "repository": build(
                        schema("minimal-repository"),
                        {"name": self.name, "owner": self.user(self.owner)},
                    ),
                    "commit_url": f"{self.repo_url}/commits/{sha}",
                    "url": f"{self.repo_url}/commits/{sha}/status",
                },
            ),
            {},
        )

    def op_actions_create_workflow_dispatch(
        self, login: str, request: Request, body: Any, owner: str, repo: str, workflow_id: str
    ) -> Any:
        self.dispatches.append(
            {"workflow": workflow_id, "ref": body.get("ref"), "inputs": body.get("inputs", {})}
        )
        return 204, None, {}


@functools.cache
def _described() -> OpenAPI:
    """The description with this machine's loopback as its server, any port (built once)."""
    described = copy.deepcopy(spec())
    described["servers"] = [
        {"url": "http://127.0.0.1:{port}", "variables": {"port": {"default": "80"}}}
    ]
    return OpenAPI.from_dict(described)


def _why(exc: Exception) -> str:
    """The schema errors first (what is wrong), then the exception (whose text quotes the
    whole offending value, so it is cut short)."""
    reasons = []
    cause = exc.__cause__
    while cause is not None:
        for error in getattr(cause, "schema_errors", ()) or ():
            where = "/".join(str(p) for p in getattr(error, "absolute_path", ()))
            reasons.append(f"at {where or '(top)'}: {getattr(error, 'message', error)}"[:300])
        cause = cause.__cause__
    return "; ".join([*reasons, f"{type(exc).__name__}: {str(exc)[:300]}"])
