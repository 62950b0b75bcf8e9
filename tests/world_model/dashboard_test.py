"""`augnes dashboard build`, rendered in headless Chromium: every panel is in the DOM with
its chart or table, and the page's screenshot is not blank."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.dashboard import PANELS
from bot.loop import Loop
from bot.workspace import Workspace

CHROMIUM = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking")


def invoke(repo: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["-C", str(repo), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is not installed: `augnes doctor --install chromium`")
    return subprocess.run(
        [binary, *CHROMIUM, *args], capture_output=True, text=True, timeout=120, check=True
    )


def test_every_panel_renders_in_chromium(sampled_repo: Path, tmp_path: Path) -> None:
    invoke(sampled_repo, "world-model", "train", "--hidden-dim", "4,8")
    invoke(
        sampled_repo, "capacity", "sweep", "--hidden-dim", "4,8", "--buffer-size", "500",
        "--episodes", "1",
    )  # fmt: skip
    text = (sampled_repo / "pyproject.toml").read_text()
    (sampled_repo / "pyproject.toml").write_text(
        text + '\n[tool.augnes.variation]\noperators = ["perturb", "code-constant"]\n'
    )
    subprocess.run(["git", "commit", "-qam", "operators"], cwd=sampled_repo, check=True)
    Loop(Workspace.open(sampled_repo)).run(generations=2, until=None, mutations=3)
    site = tmp_path / "site"
    assert "dashboard written" in invoke(sampled_repo, "dashboard", "build", "--out", str(site))
    page = (site / "index.html").as_uri()
    dom = chromium("--dump-dom", page).stdout
    for key in PANELS:
        start = dom.index(f'id="{key}"')
        end = dom.find('<section class="panel"', start + 1)
        body = dom[start : end if end > 0 else len(dom)]
        assert "<svg" in body or "<table" in body, key
        assert 'class="missing"' not in body, key
    assert "http" not in dom.replace("http://www.w3.org", "")  # nothing from elsewhere
    shot = tmp_path / "dashboard.png"
    chromium(f"--screenshot={shot}", "--window-size=1300,2400", page)
    blank = tmp_path / "blank.png"
    (tmp_path / "blank.html").write_text("<html><body></body></html>")
    chromium(f"--screenshot={blank}", "--window-size=1300,2400", (tmp_path / "blank.html").as_uri())
    assert shot.stat().st_size > 4 * blank.stat().st_size  # charts, not an empty page


def test_a_panel_without_its_file_says_which_command_makes_it(
    sampled_repo: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    invoke(sampled_repo, "dashboard", "build", "--out", str(site))
    html = (site / "index.html").read_text()
    assert "augnes world-model sample &amp;&amp; augnes world-model train" in html
    assert "augnes capacity sweep" in html and (site / "data.json").exists()


def test_legends_sit_above_the_plot_and_elites_are_labelled() -> None:
    from bot.lineage_graph import to_svg
    from bot.plots import MARGIN, PANEL_W, Panel

    panel = Panel(
        "best S and benchmark_score",
        series=[
            ("best S", [(0, 0.3), (1, 0.6)]),
            ("its held-out benchmark_score", [(0, 0.2), (1, 0.5)]),
        ],
    )
    svg = panel.svg(0, 0)
    labels = [t for t in svg.split("<text")[1:] if ">its held-out benchmark_score</text>" in t]
    x = float(labels[0].split('x="')[1].split('"')[0])
    assert x + 6 * len("its held-out benchmark_score") <= PANEL_W  # not clipped
    plot_top = float(svg.split("<rect")[1].split('y="')[1].split('"')[0])
    assert plot_top > MARGIN["top"]  # the plot moved down to make room: no overlap

    import networkx as nx

    graph = nx.DiGraph()
    graph.add_node(
        "c-1234567",
        generation=1,
        operator="perturb",
        state="elite",
        score=0.9,
        summary="",
        strategy="s",
    )
    assert ">c-1234567 0.900</text>" in to_svg(graph)
