"""The loop end to end on real git repositories and real environments."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.forge.local_forge import LocalForge
from bot.loop import Event, Loop
from bot.records import Deferral, Judgment, RegretFile, StrategyStatsFile
from bot.repo import Repo
from bot.workspace import Workspace
from tests.conftest import SEED_STRATEGIES, commit_file, git


def run(repo: Path, *, generations: int = 1, mutations: int = 2) -> tuple[list, list[Event]]:  # type: ignore[type-arg]
    events: list[Event] = []
    loop = Loop(Workspace.open(repo), on_event=events.append)
    return loop.run(generations=generations, until=None, mutations=mutations), events


def lineage(repo: Path) -> tuple[StrategyStatsFile, list[Judgment]]:
    stats = StrategyStatsFile.model_validate_json(
        git(repo, "show", "main:lineage/strategy_stats.json")
    )
    lines = git(repo, "show", "main:lineage/judgments.jsonl").splitlines()
    return stats, [Judgment.model_validate_json(line) for line in lines]


def test_baseline_then_a_generation(seeded_repo: Path) -> None:
    summaries, events = run(seeded_repo, generations=1, mutations=3)
    assert [s.generation for s in summaries] == [0, 1]
    subjects = git(seeded_repo, "log", "--first-parent", "--format=%s", "main").splitlines()
    assert subjects[-1] == "seed strategies"
    assert subjects[-2] == (
        f"augnes(g000): baseline — evaluated {len(SEED_STRATEGIES)} seed variant(s)"
    )
    g1 = summaries[1]
    assert subjects[0] == f"augnes(g001): selection — merged {g1.merged}, closed {g1.closed}"
    assert g1.merged + g1.closed == 3 == g1.evaluated

    stats, judgments = lineage(seeded_repo)
    assert stats.generation == 1
    assert len({j.key for j in judgments}) == len(judgments)
    assert {j.variant for j in judgments} == set(stats.variants)
    assert sorted(stats.elites) == SEED_STRATEGIES
    for name, cid in stats.elites.items():
        assert stats.variants[cid].status == "elite" and stats.variants[cid].strategy == name
    RegretFile.model_validate_json(git(seeded_repo, "show", "main:lineage/regret.json"))
    assert git(seeded_repo, "status", "--porcelain") == ""  # the work tree followed main
    assert (seeded_repo / "lineage" / "strategy_stats.json").exists()
    assert any(e.kind == "evaluated" for e in events)


def test_children_are_commits_branches_prs_and_archive_refs(seeded_repo: Path) -> None:
    run(seeded_repo, generations=1, mutations=3)
    repo = Repo(seeded_repo)
    stats, _ = lineage(seeded_repo)
    forge = LocalForge(repo)
    children = [v for v in stats.variants.values() if v.generation == 1]
    archive = repo.refs("refs/augnes/archive/")
    assert set(archive) == {f"refs/augnes/archive/{cid}" for cid in stats.variants}
    for child in children:
        branch = f"augnes/g001/{child.candidate_id}"
        sha = repo.resolve(f"refs/heads/{branch}")
        assert sha == child.commit == archive[f"refs/augnes/archive/{child.candidate_id}"]
        trailers = dict(repo.trailers(sha))
        assert trailers["Augnes-Candidate"] == child.candidate_id
        assert trailers["Augnes-Generation"] == "1"
        assert trailers["Augnes-Operator"] == child.operator
        assert int(trailers["Augnes-Seed"]) >= 0
        harness = trailers["Augnes-Harness"]
        assert repo.parents(sha)[0] == harness
        assert repo.message(harness).startswith("augnes(g000): baseline")
        for parent in child.parents:
            assert repo.is_ancestor(
                stats.variants[parent].commit, sha
            )  # git log --graph draws the edge
        pull = forge.find_pull(branch)
        assert pull is not None and pull.head_sha == sha
        assert pull.title.startswith(f"[augnes g001] {child.candidate_id} ← ")
        assert pull.statuses["augnes/benchmark"].state == "success"
        assert any("<!-- augnes:report -->" in c.body for c in pull.comments)
        if child.status == "elite":
            assert pull.state == "merged" and "augnes:selected" in pull.labels
            merge = pull.merge_commit
            assert merge is not None and repo.parents(merge)[1] == sha
            assert repo.is_ancestor(merge, repo.branch_sha("main"))
        else:
            assert pull.state == "closed" and "augnes:rejected" in pull.labels
            assert not repo.is_ancestor(sha, repo.branch_sha("main"))


def test_the_run_is_reproducible(seeded_repo: Path, tmp_path: Path) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(seeded_repo, twin)
    run(seeded_repo, generations=2, mutations=2)
    run(twin, generations=2, mutations=2)
    a, ja = lineage(seeded_repo)
    b, jb = lineage(twin)
    assert {k: (v.decision, v.selection_score) for k, v in a.variants.items()} == {
        k: (v.decision, v.selection_score) for k, v in b.variants.items()
    }
    assert [(j.key, j.reward) for j in ja] == [(j.key, j.reward) for j in jb]


def test_two_worker_processes_write_the_same_judgments_as_one(
    seeded_repo: Path, tmp_path: Path
) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(seeded_repo, twin)
    run(seeded_repo, generations=2, mutations=3)
    events: list[Event] = []
    loop = Loop(Workspace.open(twin, workers=2), on_event=events.append)
    loop.run(generations=2, until=None, mutations=3)
    a, ja = lineage(seeded_repo)
    b, jb = lineage(twin)
    assert [(j.key, j.reward, j.benchmark_score) for j in ja] == [
        (j.key, j.reward, j.benchmark_score) for j in jb
    ]
    assert {k: v.decision for k, v in a.variants.items()} == {
        k: v.decision for k, v in b.variants.items()
    }
    # progress is reported for every candidate, in plan order
    done = [e.candidate for e in events if e.kind == "evaluated"]
    assert done == list(dict.fromkeys(j.variant for j in jb))


def test_the_v06_policy_draws_every_child_from_the_single_best(seeded_repo: Path) -> None:
    pyproject = seeded_repo / "pyproject.toml"
    commit_file(
        seeded_repo,
        "pyproject.toml",
        pyproject.read_text() + '\n[tool.augnes.parents]\npolicy = "best"\n',
    )
    run(seeded_repo, generations=2, mutations=3)
    stats, _ = lineage(seeded_repo)
    parents = {}
    for g in (1, 2):
        children = [v for v in stats.variants.values() if v.generation == g]
        assert len(children) == 3
        # one parent, no mate: crossover never applies
        assert {v.operator for v in children} <= {"design", "perturb", "resample", "global", "cma"}
        (parents[g],) = {p for v in children for p in v.parents}
    # seeds share goals and have no parent, so their order by S does not depend on the window
    seeds = [v for v in stats.variants.values() if v.generation == 0]
    assert parents[1] == max(seeds, key=lambda v: v.selection_score).candidate_id
    assert stats.variants[parents[2]].strategy == stats.variants[parents[1]].strategy


@pytest.mark.parametrize("share", [0.5, 0.0])
def test_a_share_of_children_comes_from_the_best_elite(seeded_repo: Path, share: float) -> None:
    pyproject = seeded_repo / "pyproject.toml"
    commit_file(
        seeded_repo,
        "pyproject.toml",
        pyproject.read_text() + f"\n[tool.augnes.parents]\nelite_share = {share}\n",
    )
    run(seeded_repo, generations=1, mutations=4)
    stats, _ = lineage(seeded_repo)
    seeds = [v for v in stats.variants.values() if v.generation == 0]
    best = max(seeds, key=lambda v: v.selection_score).candidate_id
    children = [v for v in stats.variants.values() if v.generation == 1]
    from_best = sum(1 for v in children if v.parents[0] == best)
    if share:
        assert len(children) == 4 and from_best >= 2
    else:  # only the DGM weights: some child comes from another variant than the best
        assert from_best < len(children)


def test_a_broken_manifest_is_reported_and_the_others_still_run(seeded_repo: Path) -> None:
    manifest = seeded_repo / "strategies" / "mlp" / "strategy.toml"
    commit_file(
        seeded_repo,
        "strategies/mlp/strategy.toml",
        manifest.read_text().replace('type = "int"', 'type = "integer"', 1),
    )
    _, events = run(seeded_repo, generations=1, mutations=2)
    problems = [e.detail for e in events if e.kind == "problem"]
    assert any(
        "strategies/mlp/strategy.toml" in p and "params.hidden_dim.type" in p for p in problems
    )
    stats, _ = lineage(seeded_repo)
    assert sorted(stats.elites) == [s for s in SEED_STRATEGIES if s != "mlp"]


def test_a_failing_strategy_is_deferred_and_its_content_cached(seeded_repo: Path) -> None:
    policy = seeded_repo / "strategies" / "linear" / "policy.py"
    commit_file(
        seeded_repo,
        "strategies/linear/policy.py",
        policy.read_text().replace(
            "    def act(self, obs: np.ndarray) -> np.ndarray:\n",
            "    def act(self, obs: np.ndarray) -> np.ndarray:\n        raise RuntimeError('broken')\n",
        ),
    )
    run(seeded_repo, generations=2, mutations=3)
    stats, judgments = lineage(seeded_repo)
    broken = stats.elites["linear"]
    assert all(j.failure == "crash" for j in judgments if j.variant == broken)
    assert stats.variants[broken].mutate_next and stats.variants[broken].penalty > 0
    assert stats.variants[broken].content in stats.failure_cache
    deferrals = [
        Deferral.model_validate_json(x)
        for x in git(seeded_repo, "show", "main:lineage/deferred_strategies.jsonl").splitlines()
    ]
    children = [v for v in stats.variants.values() if v.strategy == "linear" and v.generation > 0]
    assert {d.variant for d in deferrals} == {c.candidate_id for c in children}


def test_a_persons_edit_on_main_enters_as_a_human_variant(seeded_repo: Path) -> None:
    run(seeded_repo, generations=1, mutations=1)
    params = json.loads((seeded_repo / "strategies" / "heuristic" / "params.json").read_text())
    params["cart_rate_gain"] = 1.0
    commit_file(
        seeded_repo, "strategies/heuristic/params.json", json.dumps(params, indent=2) + "\n"
    )
    run(seeded_repo, generations=1, mutations=1)
    stats, _ = lineage(seeded_repo)
    human = [v for v in stats.variants.values() if v.operator == "human"]
    assert len(human) == 1 and stats.elites["heuristic"] == human[0].candidate_id


def test_an_interrupted_generation_is_counted_and_nothing_is_redone(seeded_repo: Path) -> None:
    run(seeded_repo, generations=1, mutations=2)
    summaries, _ = run(seeded_repo, generations=1, mutations=2)
    assert [s.generation for s in summaries] == [2]
    assert Loop(Workspace.open(seeded_repo)).run(generations=None, until=2, mutations=2) == []


@pytest.mark.parametrize("formula", ["weighted", "v06"])
def test_the_selection_formula_is_configurable(seeded_repo: Path, formula: str) -> None:
    pyproject = seeded_repo / "pyproject.toml"
    commit_file(
        seeded_repo,
        "pyproject.toml",
        pyproject.read_text() + f'\n[tool.augnes.selection]\nformula = "{formula}"\n',
    )
    run(seeded_repo, generations=1, mutations=1)
    stats, _ = lineage(seeded_repo)
    assert stats.formula == formula
    v = next(iter(stats.variants.values()))
    expected = (
        v.mean_reward + 0.5 * v.avg_advantage
        if formula == "v06"
        else 0.5 * v.mean_reward + 0.3 * v.avg_advantage + 0.2 * v.delta_score
    )
    assert v.selection_score == pytest.approx(expected, abs=1e-5)


def test_a_crash_between_the_stats_commit_and_cleanup_is_finished_on_rerun(
    seeded_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(seeded_repo, twin)
    run(twin, generations=1, mutations=2)
    real = Loop._finish
    calls = {"n": 0}

    def crash_once(self: Loop, journal):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:  # generation 1: main already moved, pending and journal still there
            raise KeyboardInterrupt
        real(self, journal)

    monkeypatch.setattr(Loop, "_finish", crash_once)
    with pytest.raises(KeyboardInterrupt):
        run(seeded_repo, generations=1, mutations=2)
    monkeypatch.setattr(Loop, "_finish", real)
    assert (seeded_repo / ".git/augnes/journal.json").exists()
    summaries, _ = run(seeded_repo, generations=1, mutations=2)
    assert [s.generation for s in summaries] == [1]  # finished, not evaluated again
    a, ja = lineage(seeded_repo)
    b, jb = lineage(twin)
    assert [(j.key, j.reward) for j in ja] == [(j.key, j.reward) for j in jb]
    assert a.generation == b.generation == 1
    assert not (seeded_repo / ".git/augnes/journal.json").exists()


def test_local_edits_survive_and_a_blocked_work_tree_is_reported(seeded_repo: Path) -> None:
    notes = seeded_repo / "lineage" / "README.md"
    notes.write_text("my own notes\n")  # a local change the run has no reason to touch
    run(seeded_repo, generations=1, mutations=1)
    assert notes.read_text() == "my own notes\n"
    assert (seeded_repo / "lineage" / "strategy_stats.json").exists()

    # a file the run rewrites, edited by hand: the edit is kept as it was, and the user told
    (seeded_repo / "lineage" / "strategy_stats.json").write_text("edited by hand\n")
    _, events = run(seeded_repo, generations=1, mutations=1)
    problems = [e.detail for e in events if e.kind == "problem"]
    assert any(
        p.startswith("lineage/strategy_stats.json: your uncommitted edit overlaps")
        and "git checkout -- lineage/strategy_stats.json" in p
        for p in problems
    )
    assert (seeded_repo / "lineage" / "strategy_stats.json").read_text() == "edited by hand\n"
    assert '"generation": 2' in git(seeded_repo, "show", "main:lineage/strategy_stats.json")
    # the rest of the work tree stands at main: nothing staged, only the edits show
    assert git(seeded_repo, "diff", "--cached", "--name-only") == ""
    assert git(seeded_repo, "diff", "--name-only").splitlines() == [
        "lineage/README.md",
        "lineage/strategy_stats.json",
    ]
    git(seeded_repo, "checkout", "--", "lineage/strategy_stats.json")  # the advice, followed
    assert git(seeded_repo, "status", "--porcelain") == "M lineage/README.md"


def test_a_held_out_goal_is_judged_but_not_scored(seeded_repo: Path) -> None:
    goal = seeded_repo / "benchmarks" / "control" / "goals" / "cartpole.toml"
    commit_file(
        seeded_repo, "benchmarks/control/goals/cartpole.toml", goal.read_text() + "holdout = true\n"
    )
    run(seeded_repo, generations=1, mutations=2)
    stats, judgments = lineage(seeded_repo)
    assert {j.goal_id for j in judgments} >= {"cartpole", "pendulum"}  # still evaluated
    for v in stats.variants.values():
        scored = [v.goals[g].mean_reward_norm for g in ("acrobot", "mountaincar", "pendulum")]
        assert abs(v.benchmark_score - sum(scored) / 3) < 1e-5  # cartpole left out


def test_islands_choose_parents_among_their_own_and_reset_the_worse_half(
    seeded_repo: Path,
) -> None:
    pyproject = seeded_repo / "pyproject.toml"
    commit_file(
        seeded_repo,
        "pyproject.toml",
        pyproject.read_text() + "\n[tool.augnes.parents]\nislands = 2\nisland_reset = 2\n",
    )
    events: list[str] = []
    ws = Workspace.open(seeded_repo)
    Loop(ws, on_event=lambda e: events.append(e.detail) if e.kind == "search" else None).run(
        generations=3, until=None, mutations=4
    )
    ws = Workspace.open(seeded_repo)
    main = ws.main_sha()
    state = ws.committed_search(main)
    stats = ws.committed_stats(main)
    assert stats is not None
    children = [v for v in stats.variants.values() if v.generation > 0]
    assert children and all(v.candidate_id in state.islands for v in children)
    assert all(set(state.islands[v.candidate_id]) <= {0, 1} for v in children)
    assert any(line.startswith("islands: 1 of 2 reset") for line in events)
