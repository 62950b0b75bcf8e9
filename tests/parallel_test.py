"""A job's stages on literal episodes: a clone of its parent stops after stage one, so does a
child that trails its elite; anything else faces every episode."""

from __future__ import annotations

from bot.evaluator import Episode
from bot.goals import Goal
from bot.parallel import Job, run_stages

GOAL = Goal(goal_id="g", min_reward=0.0, optimal_reward=10.0, episodes=4, env_id="X-v0")


def job(parent: dict, elite: dict) -> Job:
    return Job(
        candidate_id="c",
        where=".",
        first=((GOAL, (1, 2), 0),),
        rest=((GOAL, (3, 4), 2),),
        elite=elite,
        margin=0.1,
        reply_timeout=1.0,
        start_timeout=1.0,
        parent=parent,
    )


def runner(rewards: dict[int, float]):  # type: ignore[no-untyped-def]
    def run(plan):  # type: ignore[no-untyped-def]
        return [
            Episode("g", first + i, seed, rewards[seed], 1, None, 0.0)
            for goal, seeds, first in plan
            for i, seed in enumerate(seeds)
        ]

    return run


PARENT = {("g", 1): 5.0, ("g", 2): 6.0, ("g", 3): 7.0, ("g", 4): 8.0}
ELITE = {key: value / 10 for key, value in PARENT.items()}


def test_a_child_acting_exactly_like_its_parent_stops_as_a_clone() -> None:
    episodes, stop = run_stages(job(PARENT, ELITE), runner({1: 5.0, 2: 6.0, 3: 0.0, 4: 0.0}))
    assert stop == "clone" and [e.seed for e in episodes] == [1, 2]


def test_rewards_count_to_the_six_decimals_judgments_keep() -> None:
    near = {1: 5.0000001, 2: 6.0}
    assert run_stages(job(PARENT, ELITE), runner({**near, 3: 1, 4: 1}))[1] == "clone"
    apart = {1: 5.00001, 2: 6.0, 3: 9.0, 4: 9.0}
    episodes, stop = run_stages(job(PARENT, ELITE), runner(apart))
    assert stop is None and len(episodes) == 4


def test_a_trailing_child_stops_early_and_a_good_one_goes_on() -> None:
    assert run_stages(job(PARENT, ELITE), runner({1: 1.0, 2: 1.0, 3: 9, 4: 9}))[1] == "early"
    episodes, stop = run_stages(job(PARENT, ELITE), runner({1: 6.0, 2: 6.5, 3: 9, 4: 9}))
    assert stop is None and [e.episode for e in episodes] == [0, 1, 2, 3]


def test_without_a_parent_to_compare_nothing_is_a_clone() -> None:
    episodes, stop = run_stages(job({}, ELITE), runner({1: 5.0, 2: 6.0, 3: 7.0, 4: 8.0}))
    assert stop is None and len(episodes) == 4
