"""Monitoring against the real thing: promtool checks and unit-tests the alert rules, and a
Prometheus server started here on 127.0.0.1 scrapes `augnes metrics serve` and answers
queries with the values lineage/ holds."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from bot.cli import cli
from bot.loop import Loop
from bot.workspace import Workspace
from tests.conftest import ROOT, git

RULES = ROOT / "monitoring" / "prometheus"


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: `augnes doctor --install prometheus`")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_alert_rules_pass_promtool() -> None:
    promtool = tool("promtool")
    for args in (
        ["check", "rules", str(RULES / "alerts.yml")],
        ["test", "rules", str(RULES / "alerts_test.yml")],
        ["check", "config", str(RULES / "prometheus.yml")],
    ):
        done = subprocess.run([promtool, *args], capture_output=True, text=True, cwd=RULES)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_grafana_dashboard_queries_exported_metrics(seeded_repo: Path) -> None:
    Loop(Workspace.open(seeded_repo)).run(generations=1, until=None, mutations=2)
    shown = CliRunner().invoke(cli, ["-C", str(seeded_repo), "metrics", "show"]).output
    exported = {line.split("{")[0].split(" ")[0] for line in shown.splitlines() if line[:1] != "#"}
    dashboard = json.loads((ROOT / "monitoring" / "grafana" / "augnes.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            names = {w for w in _words(target["expr"]) if w.startswith("augnes_")}
            known = names & exported
            optional = {"augnes_world_model_nmse", "augnes_capacity_gain",
                        "augnes_capacity_epsilon", "augnes_failures_total"}  # fmt: skip
            assert names - optional <= known, (panel["title"], names - known)


def _words(expr: str) -> set[str]:
    out, word = set(), ""
    for ch in expr + " ":
        if ch.isalnum() or ch == "_":
            word += ch
        else:
            if word:
                out.add(word)
            word = ""
    return out


def test_prometheus_scrapes_the_exporter(seeded_repo: Path, tmp_path: Path) -> None:
    prometheus = tool("prometheus")
    Loop(Workspace.open(seeded_repo)).run(generations=2, until=None, mutations=2)
    stats = json.loads(git(seeded_repo, "show", "main:lineage/strategy_stats.json"))
    exporter_port, prom_port = free_port(), free_port()
    exporter = subprocess.Popen(
        [sys.executable, "-m", "bot", "-C", str(seeded_repo), "metrics", "serve",
         "--port", str(exporter_port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {RULES / 'alerts.yml'}\n"
        "scrape_configs:\n  - job_name: augnes\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{exporter_port}']\n"
    )
    server = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}", "--storage.tsdb.retention.time=1h"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    api = f"http://127.0.0.1:{prom_port}/api/v1/query"
    try:
        deadline = time.monotonic() + 90
        answer: list = []  # type: ignore[type-arg]
        while time.monotonic() < deadline:
            try:
                reply = requests.get(api, params={"query": "augnes_generation"}, timeout=5)
                answer = reply.json()["data"]["result"]
            except (requests.RequestException, KeyError, ValueError):
                answer = []
            if answer:
                break
            time.sleep(1)
        assert answer, server.stderr.read() if server.poll() is not None else "no answer"
        assert float(answer[0]["value"][1]) == stats["generation"] == 2
        merged = sum(g["merged"] for g in stats["generations"])
        reply = requests.get(api, params={"query": "augnes_merges_total"}, timeout=5).json()
        assert float(reply["data"]["result"][0]["value"][1]) == merged
        regret = requests.get(
            api, params={"query": 'augnes_avg_regret{goal="cartpole"}'}, timeout=5
        ).json()["data"]["result"]
        assert float(regret[0]["value"][1]) == stats["generations"][-1]["avg_regret"]["cartpole"]
        rules = requests.get(f"http://127.0.0.1:{prom_port}/api/v1/rules", timeout=5).json()
        names = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
        assert "AugnesCapacityGainBelowEpsilon" in names and "AugnesRegretRising" in names
    finally:
        for proc in (server, exporter):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_metrics_are_pushed_to_a_pushgateway(seeded_repo: Path, tmp_path: Path) -> None:
    gateway = tool("prometheus-pushgateway")
    Loop(Workspace.open(seeded_repo)).run(generations=1, until=None, mutations=2)
    port = free_port()
    server = subprocess.Popen(
        [gateway, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(50):
            try:
                requests.get(f"{url}/-/ready", timeout=2).raise_for_status()
                break
            except requests.RequestException:
                time.sleep(0.2)
        result = CliRunner().invoke(
            cli, ["-C", str(seeded_repo), "metrics", "push", "--url", url, "--job", "ci"]
        )
        assert result.exit_code == 0, result.output
        held = requests.get(f"{url}/metrics", timeout=5).text
        assert 'augnes_generation{instance="",job="ci"} 1' in held
        assert 'augnes_avg_regret{goal="cartpole",instance="",job="ci"}' in held
    finally:
        server.terminate()
        server.wait(timeout=20)
    refused = CliRunner().invoke(
        cli,
        ["-C", str(seeded_repo), "metrics", "push", "--url", url],  # the gateway is gone
    )
    assert refused.exit_code != 0 and "ConnectionError" in refused.output
