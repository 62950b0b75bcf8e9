from __future__ import annotations

from bot.records import Judgment
from bot.reflect import active_deferrals, reflect
from bot.sandbox import CONTAINED


def j(variant: str, norm: float, failure: str | None = None, episode: int = 0) -> Judgment:
    return Judgment(
        ts="t",
        run_id="r",
        generation=1,
        goal_id="g",
        strategy="s",
        variant=variant,
        parent_id=None,
        mutation_id=variant,
        operator="perturb",
        commit="0" * 40,
        episode=episode,
        seed=episode,
        reward=0.0,
        reward_norm=norm,
        expected_optimal=1.0,
        regret=1 - norm,
        advantage=0.0,
        success=False,
        failure=failure,
        steps=1,
        duration_s=0.0,
        benchmark_score=norm,
    )


def test_healthy_variants_are_left_alone() -> None:
    assert (
        reflect(
            {"c-ok": [j("c-ok", 0.8), j("c-ok", 0.9, episode=1)]},
            low_reward=0.1,
            penalty=0.5,
            failure_limit=2,
        )
        == []
    )


def test_low_reward_is_penalised_and_flagged_for_mutation() -> None:
    [v] = reflect({"c-low": [j("c-low", 0.05)]}, low_reward=0.1, penalty=0.5, failure_limit=2)
    assert (v.penalty, v.mutate_next, v.defer, v.failed_content) == (0.5, True, False, False)
    assert "low reward" in v.reason


def test_one_logic_failure_flags_repeated_failures_defer() -> None:
    [once] = reflect(
        {"c": [j("c", 0.0, "crash"), j("c", 0.9, episode=1)]},
        low_reward=0.1,
        penalty=0.5,
        failure_limit=2,
    )
    assert once.mutate_next and not once.defer and not once.failed_content
    [twice] = reflect(
        {"c": [j("c", 0.0, "timeout"), j("c", 0.0, "invalid_action", episode=1)]},
        low_reward=0.1,
        penalty=0.5,
        failure_limit=2,
    )
    assert twice.defer and twice.failed_content
    assert "invalid_action, timeout" in twice.reason


def test_the_sandboxs_kills_count_as_failures_as_crashes_do() -> None:
    # a variant the sandbox had to stop (memory, a forbidden call) is deferred and its
    # content remembered exactly like one that crashed
    for kind in CONTAINED:
        [v] = reflect(
            {"c": [j("c", 0.0, kind), j("c", 0.0, kind, episode=1)]},
            low_reward=0.1,
            penalty=0.5,
            failure_limit=2,
        )
        assert (v.penalty, v.mutate_next, v.defer, v.failed_content) == (0.5, True, True, True)
        assert v.reason.startswith("2 failure(s)") and f"({kind})" in v.reason


def test_deferrals_expire_after_their_cool_down() -> None:
    pairs = [("c-1", 4), ("c-2", 6)]
    assert active_deferrals(pairs, generation=3) == {"c-1", "c-2"}
    assert active_deferrals(pairs, generation=4) == {"c-2"}
    assert active_deferrals(pairs, generation=6) == set()
