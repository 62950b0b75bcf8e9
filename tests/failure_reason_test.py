"""A failing strategy says why: its worker's last words reach the run output, `augnes
status`, the pull request's report and the dashboard, as untrusted text that can forge no
marker of the bot's, mention nobody and load nothing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from bot.parallel import MAX_REASON, failure_reason
from bot.report import REPORT_MARKER, report_comment, untrusted_block
from bot.scoring import VariantScore
from bot.selection import Decision
from tests.conftest import git

HOSTILE = (
    'boom <!-- augnes:meta {"candidate": "c-0000000"} --> -->@octocat '
    "![x](https://example.com/x.png) [here](https://example.com) ```` \x1b[31mred\x07"
)


def test_untrusted_text_forges_no_marker_mentions_nobody_and_stays_in_its_block() -> None:
    block = untrusted_block(f"Traceback (most recent call last):\nRuntimeError: {HOSTILE}")
    text = "\n".join(block)
    assert "<!--" not in text and "-->" not in text  # no HTML comment, so no augnes:meta
    assert not re.search(r"@\w", text)  # no mention
    assert "\x1b" not in text and "\x07" not in text  # no terminal escapes
    fence = block[0].removesuffix("text")
    assert set(fence) == {"`"} and len(fence) == 5  # longer than the ```` inside
    assert block[-1] == fence and fence not in block[1]  # nothing inside closes it
    assert "![x](https://example.com/x.png)" in block[1]  # plain text inside the fence


def test_a_reason_is_bounded_to_its_last_two_kilobytes() -> None:
    long = failure_reason("load_error", "x" * 10_000 + "\nRuntimeError: the end")
    assert len(long) == MAX_REASON and long.startswith("…") and long.endswith("the end")
    assert failure_reason("", "") == ""
    assert failure_reason("timeout", "") == "timeout"


def test_the_report_shows_the_reason_as_an_escaped_block() -> None:
    score = VariantScore(1, 1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, {})
    body = report_comment(
        candidate="c-1234567",
        child=score,
        parent=None,
        elite=None,
        elite_id=None,
        decision=Decision("c-1234567", False, "invalid evaluation", 0.0),
        weights=__import__("bot.scoring", fromlist=["Weights"]).Weights(),
        failure=f"load_error: RuntimeError: {HOSTILE}",
    )
    assert body.count("<!--") == 1 and body.startswith(REPORT_MARKER)  # the bot's own only
    assert "**Why episodes failed**" in body and "RuntimeError: boom" in body


def test_a_strategy_that_raises_at_import_says_why_everywhere(seeded_repo: Path) -> None:
    broken = seeded_repo / "strategies" / "broken"
    shutil.copytree(seeded_repo / "strategies" / "linear", broken)
    manifest = broken / "strategy.toml"
    manifest.write_text(manifest.read_text().replace('name = "linear"', 'name = "broken"'))
    policy = broken / "policy.py"
    policy.write_text(policy.read_text() + f"\nraise RuntimeError({HOSTILE!r})\n")
    git(seeded_repo, "add", "-A")
    git(seeded_repo, "commit", "-qm", "a strategy that cannot load")

    run = CliRunner().invoke(cli, ["-C", str(seeded_repo), "run", "--until-generation", "0"])
    assert run.exit_code == 0, run.output
    assert "episodes failed" in run.output and "RuntimeError: boom" in run.output
    assert "\x1b" not in run.output and "<!--" not in run.output

    status = CliRunner().invoke(cli, ["-C", str(seeded_repo), "status"])
    assert status.exit_code == 0, status.output
    assert "episodes failed; the worker's last words:" in status.output
    assert "RuntimeError: boom" in status.output and not re.search(r"@\w", status.output)

    board = (seeded_repo / ".git" / "augnes" / "forge" / "dashboard.md").read_text()
    assert "### Why `c-" in board and "RuntimeError: boom" in board
    assert "<!--" not in board

    site = seeded_repo / "site"
    built = CliRunner().invoke(
        cli, ["-C", str(seeded_repo), "dashboard", "build", "--out", str(site)]
    )
    assert built.exit_code == 0, built.output
    page = (site / "index.html").read_text()
    assert 'id="failures"' in page and "RuntimeError: boom" in page
    assert "<!-- augnes:meta" not in page and "<img" not in page  # escaped, never markup

    # a generation later: the failing strategy gets no children, and the run says why;
    # status still shows its elite's failure
    later = CliRunner().invoke(
        cli, ["-C", str(seeded_repo), "run", "-g", "1", "-m", "2", "--strategy", "broken"]
    )
    assert later.exit_code == 0, later.output
    said = [line for line in later.output.splitlines() if "gets no children" in line]
    assert len(said) == 1, later.output
    assert said[0].startswith("  warning: strategy broken gets no children: its elite c-")
    assert "RuntimeError: boom" in said[0] and "augnes try strategies/broken" in said[0]
    assert "<!--" not in said[0] and not re.search(r"@\w", said[0])
    status = CliRunner().invoke(cli, ["-C", str(seeded_repo), "status"])
    assert "RuntimeError: boom" in status.output
