"""The one chokepoint for git. Commits are built with plumbing on a temporary index; the
user's work tree and index are touched only to carry them along when the bot has moved
the branch they stand on (`Repo.follow`), never losing a local change."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import subprocess
import tempfile
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import git
from git.objects.fun import tree_entries_from_data, tree_to_stream

from bot.errors import RepoError

ZERO = "0" * 40
TRAILER = re.compile(r"^([A-Z][A-Za-z-]+): (.+)$")
BOT_NAME = "Augnes"
BOT_EMAIL = "augnes@localhost"
BLOB_MODE = 0o100644
TREE_MODE = 0o040000
DIR_CACHE = 256  # directory contents remembered (strategy directories are small)


class Repo:
    def __init__(self, root: Path) -> None:
        try:
            self.repo = git.Repo(root, search_parent_directories=True)  # the top, as git finds it
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise RepoError(
                f"{root}: not a git repository; run `git init` or cd into a clone"
            ) from None
        if self.repo.bare:
            raise RepoError(f"{root}: a bare repository; run Augnes in a clone with a work tree")
        self.root = Path(self.repo.working_tree_dir or root)
        self.git = self.repo.git
        self._known: set[bytes] = set()  # objects known to be in the database
        self._ids: dict[tuple[str, str], str | None] = {}
        self._dirs: dict[str, dict[str, bytes]] = {}

    @property
    def state_dir(self) -> Path:
        """Bot state that is not history: `.git/augnes/`."""
        path = Path(self.repo.git_dir) / "augnes"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # ---- reading -------------------------------------------------------------------------
    def resolve(self, ref: str) -> str | None:
        try:
            return self.repo.rev_parse(ref).hexsha
        except (git.BadName, ValueError, KeyError):
            return None

    def branch_sha(self, branch: str) -> str:
        sha = self.resolve(f"refs/heads/{branch}")
        if sha is None:
            others = sorted(h.name for h in self.repo.heads)
            hint = (
                f"; this repository has {', '.join(others)}: to evolve "
                f"{others[0] if len(others) == 1 else 'one of them'}, set `base_branch = "
                f'"{others[0]}"` under [tool.augnes]'
                if others
                else "; commit something first"
            )
            raise RepoError(f"branch `{branch}` does not exist{hint}")
        return sha

    def read_file(self, commit: str, path: str) -> bytes | None:
        try:
            blob = self.repo.commit(commit).tree / path
        except KeyError:
            return None
        data: bytes = blob.data_stream.read()
        return data

    @contextlib.contextmanager
    def stream_file(self, commit: str, path: str) -> Iterator[Iterator[bytes]]:
        """The lines of `path` at `commit`, read as they come (a file of any size in little
        memory); no lines when the file is not there."""
        if self.tree_sha(commit, path) is None:
            yield iter(())
            return
        proc = subprocess.Popen(
            ["git", "-C", str(self.root), "cat-file", "blob", f"{commit}:{path}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        try:
            yield iter(proc.stdout)
        finally:
            stopped = proc.poll() is None  # the reader did not read to the end
            if stopped:
                proc.kill()
            err = proc.stderr.read().decode() if proc.stderr else ""
            proc.stdout.close()
            if proc.wait() and not stopped:
                raise RepoError(f"reading {path} at {commit[:10]}: {err.strip()}")

    def tree_sha(self, commit: str, path: str) -> str | None:
        """The object id at `path` in `commit` (commits never change, so it is remembered)."""
        key = (commit, path)
        if key not in self._ids:
            try:
                self._ids[key] = str((self.repo.commit(commit).tree / path).hexsha)
            except KeyError:
                self._ids[key] = None
        return self._ids[key]

    def list_dirs(self, commit: str, path: str) -> list[str]:
        try:
            tree = self.repo.commit(commit).tree / path
        except KeyError:
            return []
        return sorted(t.name for t in tree.trees)

    def read_dir(self, commit: str, path: str) -> dict[str, bytes]:
        """Every file below `path` at `commit`, by path relative to it (a fresh dict; the
        contents are remembered by tree id, which names them exactly)."""
        tree_id = self.tree_sha(commit, path)
        if tree_id is None:
            return {}
        if tree_id not in self._dirs:
            tree = self.repo.commit(commit).tree / path
            out: dict[str, bytes] = {}
            for item in tree.traverse():
                if item.type == "blob":  # type: ignore[union-attr]
                    out[str(item.path)[len(path) + 1 :]] = item.data_stream.read()  # type: ignore[union-attr]
            if len(self._dirs) >= DIR_CACHE:
                self._dirs.pop(next(iter(self._dirs)))
            self._dirs[tree_id] = out
        return dict(self._dirs[tree_id])

    def export_dir(self, commit: str, path: str, dest: Path) -> None:
        for rel, data in self.read_dir(commit, path).items():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    def message(self, commit: str) -> str:
        return str(self.repo.commit(commit).message)

    def has_commit(self, sha: str) -> bool:
        try:
            self.git.cat_file("-e", f"{sha}^{{commit}}")
        except git.GitCommandError:
            return False
        return True

    def author(self, commit: str) -> str:
        return str(self.repo.commit(commit).author.name)

    def parents(self, commit: str) -> list[str]:
        return [p.hexsha for p in self.repo.commit(commit).parents]

    def trailers(self, commit: str) -> list[tuple[str, str]]:
        lines = self.message(commit).strip().splitlines()
        out = []
        for line in reversed(lines):
            match = TRAILER.match(line)
            if not match:
                break
            out.append((match.group(1), match.group(2)))
        return list(reversed(out))

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        try:
            self.git.merge_base("--is-ancestor", ancestor, descendant)
        except git.GitCommandError:
            return False
        return True

    def merge_base(self, a: str, b: str) -> str | None:
        try:
            return str(self.git.merge_base(a, b)).strip() or None
        except git.GitCommandError:
            return None

    def commits_touching(self, *, since: str, until: str, path: str) -> list[tuple[str, str]]:
        """(sha, author name) of the commits reachable from `until` but not from `since` that
        change `path`, oldest first."""
        out = self.git.log("--reverse", "--format=%H%x09%an", until, f"^{since}", "--", path)
        return [tuple(line.split("\t", 1)) for line in str(out).splitlines() if line]  # type: ignore[misc]

    def changed_paths(self, old: str, new: str) -> list[str]:
        """Paths that differ between two commits (renames as a deletion and an addition)."""
        out = self.git.diff("--name-only", "--no-renames", "-z", old, new)
        return [p for p in str(out).split("\0") if p]

    def refs(self, prefix: str) -> dict[str, str]:
        out = self.git.for_each_ref("--format=%(refname) %(objectname)", prefix)
        pairs = (line.split(" ", 1) for line in str(out).splitlines() if line)
        return {name: sha for name, sha in pairs}

    # ---- writing -------------------------------------------------------------------------
    def _store(self, kind: str, data: bytes) -> bytes:
        """Write a loose object unless the database has it already (most files of a child do).
        Written directly (deflate, temporary file, rename): gitdb's writer sleeps after each."""
        raw = f"{kind} {len(data)}".encode() + b"\0" + data
        binsha = hashlib.sha1(raw).digest()
        if binsha in self._known:
            return binsha
        hexsha = binsha.hex()
        path = Path(self.repo.common_dir) / "objects" / hexsha[:2] / hexsha[2:]
        if not path.exists() and not self.repo.odb.has_object(binsha):
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_name(f".{hexsha[2:]}.{os.getpid()}.tmp")
            tmp.write_bytes(zlib.compress(raw, 1))
            os.chmod(tmp, 0o444)
            os.replace(tmp, path)
        self._known.add(binsha)
        return binsha

    def _write_entries(self, entries: list[tuple[bytes, int, str]]) -> bytes:
        # git orders entries by name, a directory's name compared as if it ended in '/'
        entries.sort(key=lambda e: e[2].encode() + (b"/" if e[1] == TREE_MODE else b""))
        buffer = io.BytesIO()
        tree_to_stream(entries, buffer.write)
        return self._store("tree", buffer.getvalue())

    def _tree_of(self, files: Mapping[str, bytes]) -> bytes:
        entries: list[tuple[bytes, int, str]] = []
        folders: dict[str, dict[str, bytes]] = {}
        for path, data in files.items():
            head, _, rest = path.partition("/")
            if rest:
                folders.setdefault(head, {})[rest] = data
            else:
                entries.append((self._store("blob", data), BLOB_MODE, head))
        entries += [(self._tree_of(sub), TREE_MODE, name) for name, sub in folders.items()]
        return self._write_entries(entries)

    def _graft(
        self, tree: bytes | None, parts: list[str], new: bytes | None, mode: int = TREE_MODE
    ) -> bytes | None:
        """`tree` with the entry at `parts` replaced by object `new` (None: removed)."""
        entries = tree_entries_from_data(self.repo.odb.stream(tree).read()) if tree else []
        current = next((e for e in entries if e[2] == parts[0]), None)
        entries = [e for e in entries if e[2] != parts[0]]
        if len(parts) > 1:
            below = current[0] if current and current[1] == TREE_MODE else None
            new, mode = self._graft(below, parts[1:], new, mode), TREE_MODE
        if new is not None:
            entries.append((new, mode, parts[0]))
        return self._write_entries(entries) if entries else None

    def write_files_tree(self, files: Mapping[str, bytes]) -> str:
        """A new tree holding just `files` (no base)."""
        return self._tree_of(files).hex()

    def write_files(self, base: str, files: Mapping[str, bytes]) -> str:
        """The tree of `base` with the given files written (other files untouched)."""
        root: bytes | None = self.repo.commit(base).tree.binsha
        for path, data in files.items():
            root = self._graft(
                root, path.strip("/").split("/"), self._store("blob", data), BLOB_MODE
            )
        assert root is not None
        return root.hex()

    def write_tree(self, base: str, *, replace: Mapping[str, Mapping[str, bytes]]) -> str:
        """The tree of `base` with each directory in `replace` swapped for the given files.
        Objects are written straight into the object database: no index, no work tree."""
        root: bytes | None = self.repo.commit(base).tree.binsha
        for directory, files in replace.items():
            new = self._tree_of(files) if files else None
            root = self._graft(root, directory.strip("/").split("/"), new)
        if root is None:
            root = self._write_entries([])
        return root.hex()

    def commit_tree(self, tree: str, *, parents: Sequence[str], message: str) -> str:
        """Write a commit object by the bot (parents de-duplicated, order kept)."""
        now = time.time()
        offset = time.localtime(now).tm_gmtoff
        sign = "+" if offset >= 0 else "-"
        stamp = f"{int(now)} {sign}{abs(offset) // 3600:02d}{abs(offset) % 3600 // 60:02d}"
        who = f"{BOT_NAME} <{BOT_EMAIL}> {stamp}"
        lines = [f"tree {tree}", *(f"parent {p}" for p in dict.fromkeys(parents))]
        lines += [f"author {who}", f"committer {who}", "", message]
        return self._store("commit", "\n".join(lines).encode()).hex()

    def update_ref(self, ref: str, new: str, *, old: str | None, reason: str) -> None:
        """Move `ref` to `new` only if it is at `old` (None: only if it does not exist yet)."""
        try:
            self.git.update_ref("-m", reason, ref, new, old or ZERO)
        except git.GitCommandError as exc:
            raise RepoError(
                f"could not move {ref} to {new[:10]}: it changed under the bot ({exc.stderr.strip()}); "
                "rerun to continue from the new state"
            ) from None

    def delete_ref(self, ref: str) -> None:
        """Delete `ref` if it exists."""
        if self.resolve(ref) is not None:
            self.git.update_ref("-d", ref)

    def existing(self, refs: Sequence[str]) -> dict[str, str]:
        """Which of `refs` exist, with their commits (one git call for all)."""
        if not refs:
            return {}
        out = str(self.git.for_each_ref("--format=%(refname) %(objectname)", *refs))
        found = dict(line.split(" ", 1) for line in out.splitlines() if line)
        return {ref: sha for ref, sha in found.items() if ref in set(refs)}

    def transaction(
        self,
        *,
        create: Mapping[str, str] = {},
        move: Mapping[str, tuple[str, str]] = {},
        reason: str,
    ) -> None:
        """Create refs that must not exist yet and move refs from an expected old value, all or
        nothing, in one `git update-ref --stdin` transaction."""
        if not create and not move:
            return
        lines = ["start"]
        lines += [f"create {ref} {sha}" for ref, sha in create.items()]
        lines += [f"update {ref} {new} {old}" for ref, (new, old) in move.items()]
        lines += ["prepare", "commit"]
        with tempfile.TemporaryFile() as stream:
            stream.write(("\n".join(lines) + "\n").encode())
            stream.seek(0)
            try:
                self.git.update_ref("-m", reason, "--stdin", istream=stream)
            except git.GitCommandError as exc:
                raise RepoError(
                    f"could not update {', '.join([*create, *move])}: a ref changed under the bot "
                    f"({exc.stderr.strip()}); rerun to continue from the new state"
                ) from None

    def checkout_as(self, branch: str) -> None:
        """Check out the current commit as `branch`, created or reset there (scratch clones)."""
        self.git.checkout("-q", "-B", branch)

    def head_branch(self) -> str | None:
        try:
            return str(self.git.symbolic_ref("-q", "--short", "HEAD"))
        except git.GitCommandError:
            return None

    def merged_tree(self, ours: str, theirs: str) -> str | None:
        """The tree of a three-way merge of two commits, or None on a conflict."""
        try:
            return str(self.git.merge_tree("--write-tree", ours, theirs).splitlines()[0])
        except git.GitCommandError:
            return None

    def follow(self, branch: str, old: str, new: str) -> list[str]:
        """If `branch` is checked out, carry the work tree and index from `old` to `new`
        (where the bot moved the branch) path by path, keeping every local change: a file
        the person did not touch takes `new`'s content, an edited one gets `new`'s change
        merged into the edit (three-way, as `git checkout -m` would), and an edit that
        overlaps the change stays as the person left it. The index takes `new`'s entry for
        each such path, so `git status` shows only the person's own edits and `git commit
        -a` never reverts what the bot committed. Returns the paths left as they were."""
        try:
            head = self.git.symbolic_ref("-q", "HEAD")
        except git.GitCommandError:
            return []
        if head != f"refs/heads/{branch}" or old == new:
            return []
        kept: list[str] = []
        index: list[str] = []
        for path in self.changed_paths(old, new):
            before, after = self._blob(old, path), self._blob(new, path)
            target = self.root / path
            mine = target.read_bytes() if target.is_file() and not target.is_symlink() else None
            theirs = after[2] if after else None
            if mine in (theirs, before[2] if before else None):
                _place(target, theirs)
            else:
                merged = (
                    _merge3(mine, before[2], theirs)
                    if mine is not None and before and theirs is not None
                    else None
                )
                if merged is None:
                    kept.append(path)
                else:
                    _place(target, merged)
            index.append(f"{after[0]:o} {after[1]}\t{path}" if after else f"0 {ZERO}\t{path}")
        if index:
            with tempfile.TemporaryFile() as lines:
                lines.write(("\n".join(index) + "\n").encode())
                lines.seek(0)
                self.git.update_index("--index-info", istream=lines)
        with contextlib.suppress(git.GitCommandError):
            self.git.update_index("-q", "--refresh")
        return kept

    def _blob(self, commit: str, path: str) -> tuple[int, str, bytes] | None:
        """(mode, id, content) of the file at `path` in `commit`, or None."""
        try:
            blob = self.repo.commit(commit).tree / path
        except KeyError:
            return None
        if blob.type != "blob":
            return None
        return int(blob.mode), str(blob.hexsha), bytes(blob.data_stream.read())


def _place(target: Path, data: bytes | None) -> None:
    """Write `data` to the work tree file, or remove it (None)."""
    if data is None:
        target.unlink(missing_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def _merge3(mine: bytes, base: bytes, theirs: bytes) -> bytes | None:
    """`git merge-file`'s merge of two edits of `base`, or None when they overlap."""
    with tempfile.TemporaryDirectory(prefix="augnes-merge-") as tmp:
        paths = []
        for name, data in (("mine", mine), ("base", base), ("theirs", theirs)):
            path = Path(tmp) / name
            path.write_bytes(data)
            paths.append(str(path))
        done = subprocess.run(["git", "merge-file", "-p", *paths], capture_output=True, check=False)
    return done.stdout if done.returncode == 0 else None


def clone(source: Path, dest: Path, *, branch: str) -> Repo:
    try:
        git.Repo.clone_from(str(source), str(dest), branch=branch, no_hardlinks=True)
    except git.GitCommandError as exc:
        raise RepoError(f"could not clone {source} into {dest}: {exc.stderr.strip()}") from None
    return Repo(dest)
