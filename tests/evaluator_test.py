"""The trusted evaluator against real Gymnasium environments and real worker processes."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import gymnasium
import numpy as np
import pytest

from bot.evaluator import EnvPool, Session, Transitions
from bot.goals import Goal
from bot.sandbox import Sandbox
from bot.sandbox.subprocess_backend import SubprocessSandbox

CARTPOLE = Goal(
    goal_id="cartpole",
    env_id="CartPole-v1",
    min_reward=0,
    optimal_reward=500,
    episodes=3,
    max_steps=200,
)
PENDULUM = Goal(
    goal_id="pendulum",
    env_id="Pendulum-v1",
    min_reward=-1600,
    optimal_reward=-140,
    episodes=2,
    max_steps=50,
)


def strategy(tmp_path: Path, body: str, name: str = "s") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "strategy.toml").write_text(
        f'name = "{name}"\nfamily = "f"\nentry = "policy.py:make_policy"\n'
    )
    (folder / "params.json").write_text("{}\n")
    (folder / "policy.py").write_text(textwrap.dedent(body))
    return folder


BALANCE = """
    import numpy as np

    class P:
        def __init__(self, spec):
            self.spec = spec
        def act(self, obs):
            if self.spec["action"]["type"] == "box":
                return np.clip(-2.0 * obs[:, 1:2], -2, 2)
            return (obs[:, 2] + obs[:, 3] > 0).astype(np.int64)

    def make_policy(params, spec):
        return P(spec)
"""


@pytest.fixture(params=["fork", "exec", "bwrap"])
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """The evaluator's behaviour must not depend on the backend: the unconfined one (forked
    from a zygote, or a fresh interpreter) and bubblewrap."""
    box: Sandbox
    if request.param == "bwrap":
        from bot.sandbox.bwrap_backend import BwrapSandbox, preflight

        if preflight():
            pytest.skip(f"bwrap cannot run here: {preflight()}")
        box = BwrapSandbox(preload=("numpy",))
    else:
        box = SubprocessSandbox(preload=("numpy",), fork=request.param == "fork")
    yield box
    box.close()


def run(
    sandbox: Sandbox,
    folder: Path,
    goals: list[Goal],
    *,
    timeout: float = 10.0,
    transitions=None,
):  # type: ignore[no-untyped-def]
    pool = EnvPool()
    try:
        with Session(
            sandbox, folder, pool, reply_timeout=timeout, start_timeout=30, transitions=transitions
        ) as s:
            return s.run([(g, [100 + i for i in range(g.episodes)], 0) for g in goals])
    finally:
        pool.close()


def in_process_return(seed: int) -> float:
    env = gymnasium.make("CartPole-v1", max_episode_steps=200)
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(int(obs[2] + obs[3] > 0))
        total += float(reward)
        done = terminated or truncated
    return total


def test_rewards_are_computed_by_the_trusted_side_and_reproducible(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    folder = strategy(tmp_path, BALANCE)
    first = run(sandbox, folder, [CARTPOLE, PENDULUM])
    again = run(sandbox, folder, [CARTPOLE, PENDULUM])
    assert [e.reward for e in first] == [e.reward for e in again]
    cart = [e for e in first if e.goal_id == "cartpole"]
    assert [e.reward for e in cart] == [in_process_return(100 + i) for i in range(3)]
    assert all(e.failure is None for e in first)
    assert [e.episode for e in cart] == [0, 1, 2]


def test_transitions_are_recorded_by_the_trusted_side(sandbox: Sandbox, tmp_path: Path) -> None:
    record: dict[str, Transitions] = {}
    episodes = run(sandbox, strategy(tmp_path, BALANCE), [PENDULUM], transitions=record)
    t = record["pendulum"]
    assert len(t.obs) == len(t.actions) == len(t.next_obs) == sum(e.steps for e in episodes) == 100
    # two episodes run in lockstep, so rows alternate between them
    assert t.obs[2].shape == (3,) and np.array_equal(t.next_obs[0], t.obs[2])


HOSTILE = {
    "load_error": "raise RuntimeError('broken at import')\n",
    "crash": BALANCE.replace(
        "def act(self, obs):", "def act(self, obs):\n            raise ValueError('boom')"
    ),
    "invalid_action": BALANCE.replace(
        "return (obs[:, 2] + obs[:, 3] > 0).astype(np.int64)", "return np.full(len(obs), 7)"
    ),
    "nan": BALANCE.replace(
        "return (obs[:, 2] + obs[:, 3] > 0).astype(np.int64)", "return np.full(len(obs), np.nan)"
    ),
    "malformed": BALANCE.replace(
        "return (obs[:, 2] + obs[:, 3] > 0).astype(np.int64)", "return np.zeros((len(obs), 3))"
    ),
    "strings": BALANCE.replace(
        "return (obs[:, 2] + obs[:, 3] > 0).astype(np.int64)",
        "return np.array(['left'] * len(obs))",
    ),
    "timeout": BALANCE.replace(
        "def act(self, obs):", "def act(self, obs):\n            import time; time.sleep(60)"
    ),
    "exit": BALANCE.replace(
        "def act(self, obs):", "def act(self, obs):\n            import os; os._exit(3)"
    ),
}
EXPECTED = {"nan": "invalid_action", "strings": "malformed", "exit": "crash"}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_misbehaving_strategy_ends_its_episodes_as_classified_failures(
    sandbox: Sandbox, tmp_path: Path, kind: str
) -> None:
    episodes = run(sandbox, strategy(tmp_path, HOSTILE[kind]), [CARTPOLE], timeout=1.0)
    assert {e.failure for e in episodes} == {EXPECTED.get(kind, kind)}
    assert all(e.reward == CARTPOLE.min_reward for e in episodes)


def test_one_goal_failing_does_not_sink_the_other(sandbox: Sandbox, tmp_path: Path) -> None:
    body = BALANCE.replace(
        "def act(self, obs):",
        "def act(self, obs):\n            if self.spec['goal_id'] == 'pendulum': raise KeyError('x')",
    )
    episodes = run(sandbox, strategy(tmp_path, body), [CARTPOLE, PENDULUM])
    assert {e.failure for e in episodes if e.goal_id == "pendulum"} == {"crash"}
    assert {e.failure for e in episodes if e.goal_id == "cartpole"} == {None}


def test_printing_does_not_corrupt_the_wire(sandbox: Sandbox, tmp_path: Path) -> None:
    body = BALANCE.replace(
        "def act(self, obs):", "def act(self, obs):\n            print('x' * 1000); print(obs)"
    )
    episodes = run(sandbox, strategy(tmp_path, body), [CARTPOLE])
    assert all(e.failure is None and e.steps > 0 for e in episodes)


def test_a_hung_worker_is_replaced_for_the_next_run(sandbox: Sandbox, tmp_path: Path) -> None:
    # it hangs on seed 1's first observation: the first run meets it, the second does not
    first_obs = gymnasium.make("CartPole-v1").reset(seed=1)[0]
    body = BALANCE.replace(
        "def act(self, obs):",
        "def act(self, obs):\n            import time\n"
        f"            if (obs[:, 0] == {float(first_obs[0])!r}).any():\n"
        "                time.sleep(60)",
    )
    folder = strategy(tmp_path, body)
    pool = EnvPool()
    with Session(sandbox, folder, pool, reply_timeout=1.0, start_timeout=30) as session:
        first = session.run([(CARTPOLE, [1, 2], 0)])
        second = session.run([(CARTPOLE, [3, 4], 2)])
    pool.close()
    assert {e.failure for e in first} == {"timeout"}
    assert {e.failure for e in second} == {None}


def test_the_worker_gets_no_secret_from_the_bot_environment(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "canary-7d1f")
    body = BALANCE.replace(
        "def act(self, obs):",
        "def act(self, obs):\n            import os\n            assert 'canary-7d1f' not in str(os.environ)",
    )
    episodes = run(sandbox, strategy(tmp_path, body), [CARTPOLE])
    assert {e.failure for e in episodes} == {None}


def test_no_worker_process_outlives_its_session(sandbox: Sandbox, tmp_path: Path) -> None:
    # the worker names itself, so that it can be found from outside any sandbox
    body = BALANCE.replace(
        "def act(self, obs):",
        "def act(self, obs):\n            import ctypes\n"
        "            ctypes.CDLL(None).prctl(15, b'augnes-outlive', 0, 0, 0)",
    )
    episodes = run(sandbox, strategy(tmp_path, body), [CARTPOLE])
    assert {e.failure for e in episodes} == {None}
    named = [p for p in Path("/proc").glob("[0-9]*/comm") if _read(p) == "augnes-outlive"]
    assert named == []


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
