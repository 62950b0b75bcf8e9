"""A hostile strategy inside the real loop: its children's evaluations end as sandbox
violations, they are closed with that reason, the other strategies carry on, and nothing on
the bot's side (git config, hooks, the working tree) changes."""

from __future__ import annotations

import json
from pathlib import Path

from bot.candidates import branch_name
from bot.forge.local_forge import LocalForge
from bot.repo import Repo
from tests.conftest import commit_file, git
from tests.loop_test import lineage, run

# The seed behaves; any child (its parameters mutated) reaches for the network.
ATTACK = """
SEED = {seed!r}


def make_policy(params: dict, spec: dict) -> LinearPolicy:
    import json
    import socket

    if json.dumps(params, sort_keys=True) != SEED:
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    return _make_policy(params, spec)
"""


def test_hostile_children_are_stopped_closed_and_the_loop_goes_on(seeded_repo: Path) -> None:
    folder = seeded_repo / "strategies" / "linear"
    seed = json.dumps(json.loads((folder / "params.json").read_text()), sort_keys=True)
    text = (folder / "policy.py").read_text().replace("def make_policy(", "def _make_policy(")
    commit_file(seeded_repo, "strategies/linear/policy.py", text + ATTACK.format(seed=seed))
    config = (seeded_repo / ".git" / "config").read_bytes()
    hooks = sorted(p.name for p in (seeded_repo / ".git" / "hooks").iterdir())
    summaries, _ = run(seeded_repo, generations=2, mutations=4)
    assert [s.generation for s in summaries] == [0, 1, 2]
    stats, judgments = lineage(seeded_repo)
    children = {
        v.candidate_id
        for v in stats.variants.values()
        if v.strategy == "linear" and v.generation > 0 and v.operator != "human"
    }
    assert children, "the seed should have had children"
    assert {j.failure for j in judgments if j.variant in children} == {"sandbox_violation"}
    clean = [j for j in judgments if j.variant not in children]
    assert clean and all(j.failure is None for j in clean)
    forge = LocalForge(Repo(seeded_repo))
    for cid in children:
        pull = forge.find_pull(branch_name(stats.variants[cid].generation, cid))
        assert pull is not None and pull.state == "closed"
        assert any("the sandbox stopped it (sandbox_violation)" in c.body for c in pull.comments)
    assert (seeded_repo / ".git" / "config").read_bytes() == config
    assert sorted(p.name for p in (seeded_repo / ".git" / "hooks").iterdir()) == hooks
    assert git(seeded_repo, "status", "--porcelain") == ""
