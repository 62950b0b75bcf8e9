"""Everything one command needs about a repository: git, config, suite, forge, lineage state."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from bot.archive import Archive, VariantMeta, meta_from_record
from bot.config import Config, has_config, load_config
from bot.errors import ConfigError, LineageFileError, ManifestError, decoded
from bot.forge import Forge
from bot.forge.local_forge import LocalForge
from bot.goals import Goal, Suite, combine, load_suite
from bot.lineage_files import load_json, parse_jsonl, read_jsonl
from bot.manifest import MANIFEST, PARAMS, Manifest, ParamValue, parse_manifest, parse_params
from bot.records import Deferral, Judgment, StrategyStatsFile
from bot.repo import Repo
from bot.search_state import SearchState

log = logging.getLogger(__name__)


def open_forge(repo: Repo, config: Config) -> Forge:
    """The forge the configuration names (AUGNES_FORGE overrides it, as the workflows do);
    GitHub's settings default to Actions' environment."""
    kind = os.environ.get("AUGNES_FORGE") or config.forge.kind
    if kind not in ("local", "github"):
        raise ConfigError(f"AUGNES_FORGE={kind!r}: choose local or github")
    if kind == "local":
        return LocalForge(repo)
    from bot.forge.github_forge import GitHubForge

    f = config.forge
    repository = f.repository or os.environ.get("GITHUB_REPOSITORY", "")
    if not repository:
        raise ConfigError(
            "forge.kind is github but no repository is named: set forge.repository "
            "(owner/name) or GITHUB_REPOSITORY"
        )
    app = None
    if os.environ.get("AUGNES_APP_ID") and os.environ.get("AUGNES_APP_PRIVATE_KEY"):
        installation = os.environ.get("AUGNES_APP_INSTALLATION_ID")
        app = (
            os.environ["AUGNES_APP_ID"],
            os.environ["AUGNES_APP_PRIVATE_KEY"],
            int(installation) if installation else None,
        )
    return GitHubForge(
        repository,
        token=os.environ.get("GITHUB_TOKEN") or None,
        app=app,
        base_url=f.api_url or os.environ.get("GITHUB_API_URL", "https://api.github.com"),
        remote=f.remote or None,
        bot_login=f.bot_login or None,
        write_spacing=f.write_spacing_s,
    )


@dataclass(frozen=True)
class StrategySource:
    """A strategy directory as of one commit."""

    name: str
    manifest: Manifest
    params: dict[str, ParamValue]
    files: dict[str, bytes]


@dataclass
class Workspace:
    repo: Repo
    config: Config
    suite: Suite
    forge: Forge
    problems: list[str] = field(default_factory=list)
    _parsed: dict[str | None, tuple[str, list[Judgment]]] = field(default_factory=dict, repr=False)
    _archive: tuple[str, Archive] | None = field(default=None, repr=False)
    _stats: tuple[str, StrategyStatsFile] | None = field(default=None, repr=False)
    _pending: tuple[int, bytes, list[Judgment]] = field(default=(0, b"", []), repr=False)
    _strategies: dict[tuple[str, str], StrategySource] = field(default_factory=dict, repr=False)

    @classmethod
    def open(
        cls, root: Path, *, sandbox: str | None = None, workers: int | None = None
    ) -> Workspace:
        """The workspace of the repository at `root`; `sandbox` and `workers` override the
        configured evaluation settings (the `--sandbox` and `--workers` options)."""
        repo = Repo(root)
        top = repo.root
        if not has_config(top):
            raise ConfigError(
                f"{top}: no Augnes configuration; add a [tool.augnes] table to pyproject.toml "
                "or an augnes.toml (`augnes init` writes one)"
            )
        config = load_config(top)
        update = {k: v for k, v in (("sandbox", sandbox), ("workers", workers)) if v is not None}
        if update:
            evaluation = config.evaluation.model_copy(update=update)
            config = config.model_copy(update={"evaluation": evaluation})
        for needed in (config.strategies_dir, config.benchmarks_dir):
            if not (top / needed).is_dir():
                raise ConfigError(
                    f"{top / needed}: missing; Augnes needs `{needed}/` in the repository"
                )
        suite = combine(
            [load_suite(top / config.benchmarks_dir, name) for name in config.suite_names]
        )
        return cls(repo, config, suite, open_forge(repo, config))

    # ---- paths ---------------------------------------------------------------------------
    @property
    def base(self) -> str:
        return self.config.base_branch

    def lineage(self, name: str) -> str:
        return f"{self.config.lineage_dir}/{name}"

    @property
    def pending_path(self) -> Path:
        return self.repo.state_dir / "pending-judgments.jsonl"

    @property
    def pending_heldout_path(self) -> Path:
        """Held-out judgments not yet on main."""
        return self.repo.state_dir / "pending-heldout.jsonl"

    @property
    def journal_path(self) -> Path:
        return self.repo.state_dir / "journal.json"

    def main_sha(self) -> str:
        return self.repo.branch_sha(self.base)

    # ---- strategies ----------------------------------------------------------------------
    def strategy_dir(self, name: str) -> str:
        return f"{self.config.strategies_dir}/{name}"

    def read_strategy(self, commit: str, name: str) -> StrategySource:
        """A strategy directory as of `commit`, parsed once per content (its tree id)."""
        tree = self.repo.tree_sha(commit, self.strategy_dir(name))
        key = (name, tree or commit)
        if key not in self._strategies:
            self._strategies[key] = self._read_strategy(commit, name)
        return self._strategies[key]

    def _read_strategy(self, commit: str, name: str) -> StrategySource:
        prefix = self.strategy_dir(name)
        files = self.repo.read_dir(commit, prefix)
        where = f"{prefix}/{{}} at {commit[:10]}"
        if MANIFEST not in files:
            raise ManifestError(f"{where.format(MANIFEST)}: missing")
        manifest = parse_manifest(
            decoded(files[MANIFEST], source=where.format(MANIFEST), error=ManifestError),
            source=where.format(MANIFEST),
        )
        if manifest.name != name:
            raise ManifestError(
                f"{where.format(MANIFEST)}: `name` is {manifest.name!r} but the directory is {name!r}"
            )
        if PARAMS not in files:
            raise ManifestError(f"{where.format(PARAMS)}: missing")
        params = parse_params(
            decoded(files[PARAMS], source=where.format(PARAMS), error=ManifestError),
            manifest,
            source=where.format(PARAMS),
        )
        if manifest.entry.split(":")[0] not in files:
            raise ManifestError(f"{where.format(MANIFEST)}: `entry` names a file that is missing")
        return StrategySource(name, manifest, params, files)

    def strategies_on(self, commit: str) -> dict[str, StrategySource]:
        """Every valid strategy directory at `commit`; broken ones are reported in `problems`."""
        out = {}
        for name in self.repo.list_dirs(commit, self.config.strategies_dir):
            try:
                source = self.read_strategy(commit, name)
            except ManifestError as exc:
                if exc.message not in self.problems:
                    self.problems.append(exc.message)
                log.warning("%s", exc.message)
                continue
            if set(source.manifest.suites) & set(self.suite.names):
                out[name] = source
        return out

    def goals_for(self, manifest: Manifest) -> tuple[Goal, ...]:
        """The goals a strategy is evaluated on: those of the suites its manifest names."""
        return self.suite.goals_for(manifest.suites)

    def strategy_goals(self, commit: str) -> dict[str, frozenset[str]]:
        """Per strategy on `commit`, the goal ids it is scored on."""
        return {
            name: frozenset(g.goal_id for g in self.goals_for(src.manifest))
            for name, src in self.strategies_on(commit).items()
        }

    # ---- lineage -------------------------------------------------------------------------
    def committed_judgments(self, commit: str) -> tuple[str, list[Judgment]]:
        """The judgments file on `commit`, parsed once per content (it only grows)."""
        path = self.lineage("judgments.jsonl")
        blob = self.repo.tree_sha(commit, path)
        if blob not in self._parsed:
            text = decoded(
                self.repo.read_file(commit, path) or b"",
                source=f"{path}@{commit[:10]}",
                error=LineageFileError,
            )
            known = next(iter(self._parsed.values()), ("", []))
            if known[0] and text.startswith(known[0]):  # append-only: parse the new tail only
                tail, problems = parse_jsonl(
                    text[len(known[0]) :], Judgment, source=f"{path}@{commit[:10]}"
                )
                records = known[1] + tail
            else:
                records, problems = parse_jsonl(text, Judgment, source=f"{path}@{commit[:10]}")
            self.problems.extend(p for p in problems if p not in self.problems)
            self._parsed = {blob: (text, records)}
        text, records = self._parsed[blob]
        return text, list(records)

    def pending_judgments(self) -> list[Judgment]:
        """The judgments not yet on main. The file only grows between commits, so only what
        was appended since the last read is parsed."""
        path = self.pending_path
        if not path.exists():
            self._pending = (0, b"", [])
            return []
        seen, digest, records = self._pending
        data = path.read_bytes()
        if seen and (len(data) < seen or hashlib.sha1(data[:seen]).digest() != digest):
            seen, records = 0, []  # replaced or rewritten since: parse it all again
        if len(data) > seen:
            records, problems = read_jsonl(path, Judgment, start=seen, known=records)
            self.problems.extend(p for p in problems if p not in self.problems)
            data = path.read_bytes()  # a torn tail may have been moved aside
        self._pending = (len(data), hashlib.sha1(data).digest(), records)
        return list(records)

    def committed_stats(self, commit: str) -> StrategyStatsFile | None:
        """strategy_stats.json on `commit`, parsed once per content (models are frozen)."""
        path = self.lineage("strategy_stats.json")
        blob = self.repo.tree_sha(commit, path)
        if blob is None:
            return None
        if self._stats is None or self._stats[0] != blob:
            data = self.repo.read_file(commit, path) or b""
            self._stats = (blob, load_json(data, StrategyStatsFile, source=f"{path}@{commit[:10]}"))
        return self._stats[1]

    def committed_heldout(self, commit: str) -> tuple[str, list[Judgment]]:
        """lineage/heldout.jsonl on `commit`: every elite's episodes on the held-out seeds."""
        path = self.lineage("heldout.jsonl")
        text = decoded(
            self.repo.read_file(commit, path) or b"",
            source=f"{path}@{commit[:10]}",
            error=LineageFileError,
        )
        records, problems = parse_jsonl(text, Judgment, source=f"{path}@{commit[:10]}")
        self.problems.extend(p for p in problems if p not in self.problems)
        return text, records

    def pending_heldout(self) -> list[Judgment]:
        path = self.pending_heldout_path
        if not path.exists():
            return []
        records, problems = read_jsonl(path, Judgment)
        self.problems.extend(p for p in problems if p not in self.problems)
        return records

    def heldout(self, commit: str) -> list[Judgment]:
        """The held-out judgments on `commit` and those pending, each (variant, goal,
        episode) once."""
        out, seen = [], set()
        for j in [*self.committed_heldout(commit)[1], *self.pending_heldout()]:
            if j.key not in seen:
                seen.add(j.key)
                out.append(j)
        return out

    def committed_search(self, commit: str) -> SearchState:
        """lineage/search_state.json on `commit` (a fresh state when there is none)."""
        path = self.lineage("search_state.json")
        data = self.repo.read_file(commit, path)
        if data is None:
            return SearchState()
        return load_json(data, SearchState, source=f"{path}@{commit[:10]}")

    def committed_deferrals(self, commit: str) -> tuple[str, list[Deferral]]:
        path = self.lineage("deferred_strategies.jsonl")
        data = decoded(
            self.repo.read_file(commit, path) or b"",
            source=f"{path}@{commit[:10]}",
            error=LineageFileError,
        )
        records, problems = parse_jsonl(
            data, Deferral, source=self.lineage("deferred_strategies.jsonl")
        )
        self.problems.extend(p for p in problems if p not in self.problems)
        return data, records

    def load_archive(self, commit: str, *, with_pending: bool = True) -> Archive:
        """The archive as committed on `commit` (built once per commit, then copied), plus
        the judgments still pending when asked."""
        key = "".join(
            self.repo.tree_sha(commit, self.lineage(name)) or "-"
            for name in ("judgments.jsonl", "strategy_stats.json")
        )
        if self._archive is None or self._archive[0] != key:
            self._archive = (key, self._build_archive(commit))
        archive = self._archive[1].copy()
        if with_pending:
            archive.add_judgments(self.pending_judgments())
        return archive

    def _build_archive(self, commit: str) -> Archive:
        stats = self.committed_stats(commit)
        _, judgments = self.committed_judgments(commit)
        meta: dict[str, VariantMeta] = {}
        if stats is not None:
            for cid, v in stats.variants.items():
                meta[cid] = meta_from_record(v)
        return Archive(meta, judgments, dict(stats.elites) if stats else {})
