"""The prompt-based operator against a local chat-completions server that keeps to the
provider's published types: answers as diffs or whole files, refused answers asked again,
429 / 5xx / timeouts retried, tokens and cost counted, a budget per generation, and one
clear message when no endpoint is configured."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.config import LLMConfig, VariationConfig
from bot.errors import AugnesError
from bot.loop import Event, Loop
from bot.manifest import parse_manifest
from bot.operators.bandit import Record, shares
from bot.operators.code import DEFAULT_IMPORTS, REFUSALS, InvalidSource
from bot.operators.llm import (
    Call,
    ChatClient,
    LLMError,
    apply_diff,
    parse_answer,
    propose,
    templates,
)
from bot.workspace import Workspace
from tests.conftest import ROOT, commit_file, git
from tests.operators.llm_server import FakeChat, Step

MANIFEST = parse_manifest((ROOT / "strategies/heuristic/strategy.toml").read_text(), source="m")
FILES = {
    name: (ROOT / "strategies/heuristic" / name).read_bytes()
    for name in ("strategy.toml", "params.json", "policy.py")
}
POLICY = FILES["policy.py"].decode()


@pytest.fixture
def chat() -> Iterator[FakeChat]:
    server = FakeChat().start()
    yield server
    server.stop()
    assert server.violations == [], server.violations


def config(**changes: Any) -> LLMConfig:
    return LLMConfig(**{"timeout_s": 2.0, "max_wait_s": 0.05, **changes})


def parse(text: str) -> tuple[dict[str, str], str]:
    return parse_answer(
        text, manifest=MANIFEST, files=FILES, allowed_imports=DEFAULT_IMPORTS, max_bytes=65_536
    )


def test_a_whole_file_or_a_diff_is_accepted() -> None:
    changed, summary = parse(
        "Raise the pendulum gain.\n```json\n"
        + FILES["params.json"].decode().replace('"pend_kp": 5.0', '"pend_kp": 6.5')
        + "```\n"
    )
    assert summary == "Raise the pendulum gain." and '"pend_kp": 6.5' in changed["params.json"]
    line = next(x for x in POLICY.splitlines() if "energy = 0.5" in x)
    number = POLICY.splitlines().index(line) + 1
    diff = (
        f"--- a/policy.py\n+++ b/policy.py\n@@ -{number},1 +{number},1 @@\n-{line}\n"
        f"+{line.replace('10.0', '9.81')}\n"
    )
    changed, _ = parse(f"Use g = 9.81.\n```diff\n{diff}```")
    assert "9.81 * (cos - 1.0)" in changed["policy.py"]
    assert changed["policy.py"].count("\n") == POLICY.count("\n")
    whole = POLICY.replace("np.clip(torque, -2.0, 2.0)", "np.clip(torque, -1.9, 1.9)")
    changed, _ = parse(f"Clip tighter.\n```python\n# file: policy.py\n{whole}```")
    assert changed == {"policy.py": whole}


@pytest.mark.parametrize(
    ("text", "why", "kind"),
    [
        ("no block at all", "exactly one fenced block, found 0", "no diff"),
        ("```python\nx = 1\n```\n```python\ny = 2\n```", "found 2", "no diff"),
        (
            "```python\n# file: ../evil.py\nx = 1\n```",
            "not a file of the strategy's folder",
            "outside the folder",
        ),
        (
            "```python\n# file: strategy.toml\nname = 'x'\n```",
            "strategy.toml may not be changed",
            "manifest touched",
        ),
        ("```python\nimport os\n```", "imports os", "forbidden import"),
        ("```python\ndef broken(:\n```", "does not compile", "does not compile"),
        ('```json\n{"pend_kp": 99}\n```', "params.json", "bad parameters"),
        (f"```python\n{POLICY}```", "changes nothing", "changes nothing"),
        (
            "```diff\n--- a/policy.py\n+++ b/policy.py\n@@ -1,1 +1,1 @@\n-nope\n+x\n```",
            "expects",
            "context mismatch",
        ),
        (
            "```diff\n--- a/../../etc/passwd\n+++ b/../../etc/passwd\n```",
            "not a file",
            "outside the folder",
        ),
        (f"```python\n{POLICY}\n{'# pad' * 20000}\n```", "bytes, over", "too large"),
        (
            "```python\ndef policy(obs):\n    return 0\n```",
            "no longer defines make_policy",
            "entry point missing",
        ),
    ],
)
def test_answers_that_are_refused(text: str, why: str, kind: str) -> None:
    with pytest.raises(InvalidSource, match=re.escape(why)) as refused:
        parse(text)
    assert refused.value.kind == kind


def test_apply_diff_with_several_hunks_and_a_new_file() -> None:
    files = {"p.py": "a\nb\nc\nd\ne\n"}
    diff = (
        "--- a/p.py\n+++ b/p.py\n@@ -1,2 +1,2 @@\n a\n-b\n+B\n@@ -4,2 +4,3 @@\n d\n e\n+f\n"
        "--- /dev/null\n+++ b/helper.py\n@@ -0,0 +1,1 @@\n+X = 1\n"
    )
    assert apply_diff(diff, files) == {"p.py": "a\nB\nc\nd\ne\nf\n", "helper.py": "X = 1\n"}


def client(chat: FakeChat, sleeps: list[float], **changes: Any) -> ChatClient:
    return ChatClient(config(**changes), base_url=chat.url, model="m", sleep=sleeps.append)


def test_rate_limits_server_errors_and_timeouts_are_retried(chat: FakeChat) -> None:
    sleeps: list[float] = []
    chat.script.extend(
        [
            Step(status=429, headers={"Retry-After": "0.01"}),
            Step(status=503),
            Step(delay=1.5, text="late"),  # longer than the client's timeout
            Step(text="finally"),
        ]
    )
    text, usage = client(chat, sleeps, timeout_s=0.5).complete([{"role": "user", "content": "hi"}])
    assert text == "finally" and usage.calls == 1 and usage.prompt_tokens == 1
    assert sleeps[0] == 0.01  # Retry-After honoured (capped by max_wait_s)
    assert len(sleeps) == 3 and len(chat.requests) == 4


def test_retries_are_bounded_and_a_client_error_is_not_retried(chat: FakeChat) -> None:
    chat.script.extend([Step(status=500)] * 3)
    with pytest.raises(LLMError, match="HTTP 500.*after 3 tries"):
        client(chat, [], max_http_retries=2).complete([{"role": "user", "content": "x"}])
    chat.script.append(Step(status=401))
    with pytest.raises(LLMError, match="HTTP 401"):
        client(chat, []).complete([{"role": "user", "content": "x"}])
    assert len(chat.requests) == 4


def test_a_refused_or_malformed_answer_is_asked_again_then_given_up(chat: FakeChat) -> None:
    good = POLICY.replace("np.clip(torque, -2.0, 2.0)", "np.clip(torque, -1.5, 1.5)")
    chat.script.extend(
        [
            Step(raw=b"{not json"),  # malformed: not even JSON
            Step(text="```python\nimport subprocess\n```"),  # refused by the guard
            Step(text=f"Softer torque.\n```python\n{good}```"),
        ]
    )
    priced = {"price_input_per_mtok": 2.0, "price_output_per_mtok": 8.0}
    answer = propose(
        client(chat, [], **priced),
        config(max_retries=2, **priced),
        template_name="performance",
        template="Improve {strategy}: {scores}\n{files}",
        manifest=MANIFEST,
        files=FILES,
        scores='{"cartpole": 0.5}',
        allowed_imports=DEFAULT_IMPORTS,
        max_bytes=65_536,
    )
    assert answer.files == {"policy.py": good} and answer.summary == "Softer torque."
    # the malformed answer is a call too, though it has no tokens to count
    assert answer.usage.calls == 3 and answer.usage.tokens > 0 and answer.usage.cost > 0
    # the refusal went back to the model with its reason
    last = chat.requests[-1]["messages"]
    assert last[-1]["role"] == "user" and "imports subprocess" in last[-1]["content"]
    assert "heuristic" in last[1]["content"] and "cartpole" in last[1]["content"]
    chat.script.extend([Step(text="no block")] * 2)
    calls: list[Call] = []
    with pytest.raises(InvalidSource, match="no valid answer after 2 call") as refused:
        ask_bare(chat, config(max_retries=1), on_call=calls.append)
    assert refused.value.usage.calls == 2  # type: ignore[attr-defined]
    assert refused.value.kind == "no diff"
    assert [(c.template, c.outcome) for c in calls] == [("t", "no diff")] * 2
    assert all(c.usage.tokens > 0 and c.usage.seconds > 0 for c in calls)


def ask_bare(chat: FakeChat, cfg: LLMConfig, **hooks: Any) -> None:
    """propose() with a bare template, for the calls' accounting."""
    propose(
        client(chat, []),
        cfg,
        template_name="t",
        template="{files}",
        manifest=MANIFEST,
        files=FILES,
        scores="{}",
        allowed_imports=DEFAULT_IMPORTS,
        max_bytes=65_536,
        **hooks,
    )


def test_no_call_is_made_once_the_allowance_is_spent(chat: FakeChat) -> None:
    chat.script.extend([Step(text="no block")] * 3)
    left = iter([30.0, None])  # seconds for the first call, then nothing
    calls: list[Call] = []
    with pytest.raises(InvalidSource, match="no valid answer after 1 call") as refused:
        ask_bare(chat, config(max_retries=2), allowance=lambda: next(left), on_call=calls.append)
    assert len(chat.requests) == 1 and len(calls) == 1
    assert refused.value.usage.calls == 1  # type: ignore[attr-defined]


def test_five_templates_ship_and_a_users_own_is_found(tmp_path: Path) -> None:
    shipped = templates(LLMConfig(), tmp_path)
    assert set(shipped) == {"performance", "stability", "speed", "memory", "exploration"}
    assert all("{files}" in t and "{scores}" in t for t in shipped.values())
    (tmp_path / ".augnes" / "prompts").mkdir(parents=True)
    (tmp_path / ".augnes" / "prompts" / "terse.md").write_text("Do better: {files}")
    mine = templates(LLMConfig(templates=("terse", "speed")), tmp_path)
    assert mine["terse"] == "Do better: {files}" and set(mine) == {"terse", "speed"}
    with pytest.raises(AugnesError, match="no template named nope"):
        templates(LLMConfig(templates=("nope",)), tmp_path)


# ---- in the loop -----------------------------------------------------------------------------
def tuned(body: dict[str, Any]) -> str:
    """A model that nudges one number of params.json it was shown."""
    prompt = body["messages"][1]["content"]
    shown = re.search(r"--- params\.json ---\n(\{.*?\n\})", prompt, re.DOTALL)
    assert shown, prompt[:300]
    params = json.loads(shown.group(1))
    rng = random.Random(len(prompt) + len(body["messages"]))
    key = rng.choice(sorted(k for k, v in params.items() if isinstance(v, float) and v > 0.05))
    params[key] = round(params[key] * rng.uniform(0.9, 0.99), 4)
    return f"Lower {key} a little.\n```json\n{json.dumps(params, indent=2)}\n```"


def use_llm(repo: Path, url: str, **extra: Any) -> None:
    lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in extra.items())
    text = (repo / "pyproject.toml").read_text()
    commit_file(
        repo,
        "pyproject.toml",
        text + '\n[tool.augnes.variation]\noperators = ["llm"]\n'
        f'\n[tool.augnes.llm]\nbase_url = "{url}"\nmodel = "local-model"\n{lines}',
    )


def test_llm_children_are_evaluated_with_their_tokens_recorded(seeded_repo: Path) -> None:
    chat = FakeChat(reply=tuned).start()
    try:
        use_llm(seeded_repo, chat.url, price_input_per_mtok=1.0, price_output_per_mtok=3.0)
        Loop(Workspace.open(seeded_repo)).run(generations=1, until=None, mutations=3)
    finally:
        chat.stop()
    assert chat.violations == [] and len(chat.requests) >= 3  # refused answers asked again
    stats = json.loads(git(seeded_repo, "show", "main:lineage/strategy_stats.json"))
    children = [v for v in stats["variants"].values() if v["operator"] == "llm"]
    assert len(children) == 3
    assert all(
        v["tokens"] > 0 and v["cost"] > 0 and v["summary"].startswith("llm (") for v in children
    )
    record = stats["operators"]["llm"]
    assert record["planned"] == record["evaluated"] == 3
    assert record["tokens"] == sum(v["tokens"] for v in children)
    assert all(r["model"] == "local-model" for r in chat.requests)


def test_without_an_endpoint_the_operator_is_skipped_with_one_message(seeded_repo: Path) -> None:
    text = (seeded_repo / "pyproject.toml").read_text()
    commit_file(
        seeded_repo,
        "pyproject.toml",
        text + '\n[tool.augnes.variation]\noperators = ["llm", "perturb"]\n',
    )
    events: list[Event] = []
    Loop(Workspace.open(seeded_repo), on_event=events.append).run(
        generations=2, until=None, mutations=2
    )
    skipped = [e for e in events if "operator llm is skipped" in e.detail]
    assert len(skipped) == 2  # once per generation planned, not once per child
    stats = json.loads(git(seeded_repo, "show", "main:lineage/strategy_stats.json"))
    assert stats["operators"]["perturb"]["evaluated"] == 4
    assert stats["operators"].get("llm", {}).get("attempts", 0) == 0


def run_with(repo: Path, chat: FakeChat, **settings: Any) -> list[Event]:
    """One generation of three children with the llm operator on `chat`; its events."""
    use_llm(repo, chat.url, **settings)
    events: list[Event] = []
    Loop(Workspace.open(repo), on_event=events.append).run(generations=1, until=None, mutations=3)
    return events


def test_the_budget_per_generation_stops_the_operator(seeded_repo: Path) -> None:
    chat = FakeChat(reply=tuned).start()
    try:
        events = run_with(seeded_repo, chat, budget_tokens=1)
    finally:
        chat.stop()
    assert len(chat.requests) == 1  # the first call spends the budget
    assert any("budget of 1 tokens (budget_tokens) is spent" in e.detail for e in events)


def refusing(body: dict[str, Any]) -> str:
    return "I would make the strategy better, but here is no code."


def test_a_model_that_never_helps_costs_a_bounded_number_of_calls(seeded_repo: Path) -> None:
    """Each child gets one llm attempt of at most max_retries + 1 calls; every call is told
    as it happens with its tokens, seconds and refusal reason; the generation goes on with
    fewer children and says so; the refusals are tallied by reason."""
    chat = FakeChat(reply=refusing).start()
    try:
        events = run_with(seeded_repo, chat, max_retries=1)
    finally:
        chat.stop()
    assert chat.violations == []
    assert len(chat.requests) == 3 * 2  # three children, two calls each, then no more
    calls = [e for e in events if e.kind == "llm"]
    assert len(calls) == len(chat.requests)
    assert all("refused, no diff (expected exactly one fenced block" in e.detail for e in calls)
    assert all(e.total > 0 and e.seconds is not None for e in calls)
    fewer = [e for e in events if "gave no usable child" in e.detail]
    assert len(fewer) == 3 and all("one child fewer" in e.detail for e in fewer)
    stats = json.loads(git(seeded_repo, "show", "main:lineage/strategy_stats.json"))
    llm = stats["operators"]["llm"]
    assert llm["invalid"] == 3 and llm["planned"] == 0
    assert llm["llm"]["calls"] == 6 and llm["llm"]["usable"] == 0
    assert llm["llm"]["refused"] == {"no diff": 6}
    assert llm["tokens"] == llm["llm"]["tokens"] > 0
    assert sum(t["calls"] for t in llm["llm"]["templates"].values()) == 6
    shown = CliRunner().invoke(cli, ["-C", str(seeded_repo), "stats", "--operators"])
    assert shown.exit_code == 0, shown.output
    assert "llm template" in shown.output and "refused: no diff 6" in shown.output


def test_every_call_is_a_json_record_as_it_happens(seeded_repo: Path) -> None:
    chat = FakeChat(reply=tuned).start()
    try:
        use_llm(seeded_repo, chat.url)
        result = CliRunner().invoke(
            cli,
            ["-C", str(seeded_repo), "--log-format", "json", "run", "-g", "1", "-m", "2"],
        )
    finally:
        chat.stop()
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    calls = [r for r in records if r["event"] == "llm"]
    assert len(calls) == len(chat.requests) >= 2
    assert all(r["tokens"] > 0 and r["seconds"] >= 0 and r["template"] for r in calls)
    assert {r["outcome"] for r in calls} <= {"usable", *REFUSALS}
    planned = [r for r in records if r["event"] == "planned" and r.get("operator") == "llm"]
    assert sum(r["outcome"] == "usable" for r in calls) >= len(planned) == 2
    assert records.index(calls[0]) < records.index(planned[-1])  # told before the child


def test_when_the_model_gives_nothing_the_other_operators_make_the_children(
    seeded_repo: Path,
) -> None:
    chat = FakeChat(reply=refusing).start()
    try:
        use_llm(seeded_repo, chat.url, max_retries=1, budget_calls=2)
        text = (seeded_repo / "pyproject.toml").read_text()
        commit_file(
            seeded_repo,
            "pyproject.toml",
            text.replace('operators = ["llm"]', 'operators = ["llm", "perturb"]'),
        )
        events: list[Event] = []
        Loop(Workspace.open(seeded_repo), on_event=events.append).run(
            generations=2, until=None, mutations=4
        )
    finally:
        chat.stop()
    assert len(chat.requests) <= 2 * 2  # budget_calls per generation
    assert any("budget of 2 calls (budget_calls) is spent" in e.detail for e in events)
    stats = json.loads(git(seeded_repo, "show", "main:lineage/strategy_stats.json"))
    assert stats["operators"]["perturb"]["planned"] == 8  # every child, from perturb
    assert stats["operators"]["llm"]["llm"]["calls"] == len(chat.requests)
    # the bandit counts every refused call against the operator, not each attempt once
    ops = stats["operators"]
    assert ops["llm"]["invalid"] < len(chat.requests)
    records = {
        "llm": Record(0, 0, len(chat.requests)),
        "perturb": Record(ops["perturb"]["evaluated"], ops["perturb"]["improved"], 0),
    }
    floor = VariationConfig().bandit_floor
    assert ops["llm"]["share"] == round(shares(["llm", "perturb"], records, floor=floor)["llm"], 4)


def test_the_seconds_budget_cuts_a_slow_models_wait(seeded_repo: Path) -> None:
    chat = FakeChat(reply=refusing).start()
    chat.script.extend([Step(text="slow", delay=1.5)] * 10)
    try:
        events = run_with(seeded_repo, chat, budget_s=1.0, timeout_s=30.0, max_http_retries=0)
    finally:
        chat.stop()
    # the first call waits only the 1 s the budget has, and the operator rests
    assert len(chat.requests) == 1
    assert any("rests this generation" in e.detail and "within 1 s" in e.detail for e in events)
    told = [e.detail for e in events if e.kind == "llm"]
    assert len(told) == 1 and "endpoint failed (" in told[0] and "within 1 s" in told[0]
    stats = json.loads(git(seeded_repo, "show", "main:lineage/strategy_stats.json"))
    assert stats["operators"]["llm"]["llm"]["calls"] == 1
    assert stats["operators"]["llm"]["llm"]["seconds"] < 1.5
