"""
The alerting path end to end with the real servers (Debian's prometheus and
prometheus-alertmanager, on free loopback ports, state in temp dirs): a live
tree's child crash-loops, Prometheus scrapes the tree every second and
evaluates the shipped rules, and SupervisorChildRestartingOften reaches
Alertmanager's API. Real clock; Prometheus' first scrape comes about 6 s after
its start, so the wait is bounded at 20 s.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import trio
import yaml

from supervisor import Backoff, Child, Jitter, Supervisor, open_tree
from tests._real_servers import alertmanager_server, free_port, prometheus_server

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ALERT = "SupervisorChildRestartingOften"


def rules_without_waiting(tmp: Path) -> Path:
    """
    The shipped rules, with the restart alert's `for: 2m` cut to 1 s (its
    expression untouched): a test cannot wait two minutes.
    """
    text = (EXAMPLES / "prometheus" / "rules.yml").read_text()
    start = text.index(f"alert: {ALERT}")
    end = text.index("- alert:", start)
    block = re.sub(r"for: \S+", "for: 1s", text[start:end], count=1)
    path = tmp / "rules.yml"
    path.write_text(text[:start] + block + text[end:])
    return path


def prometheus_config(tmp: Path, tree: str, alertmanager: str) -> Path:
    """The shipped prometheus.yml, pointed at *tree* and *alertmanager*, every 1 s."""
    config = yaml.safe_load((EXAMPLES / "prometheus" / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(rules_without_waiting(tmp))]
    am = config["alerting"]["alertmanagers"][0]
    am["static_configs"] = [{"targets": [alertmanager.removeprefix("http://")]}]
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "supervisor"]
    job["static_configs"] = [{"targets": [tree]}]
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


async def crash_loop() -> None:
    await trio.sleep(0.05)
    raise ConnectionError("broker refused the connection")


async def idle() -> None:
    await trio.sleep_forever()


@pytest.mark.slow
async def test_a_crash_loop_pages_through_prometheus_and_alertmanager(
    tmp_path: Path,
) -> None:
    spec = Supervisor(
        name="app",
        intensity=10_000,
        period=1,
        backoff=Backoff(initial=0.1, max=0.1, jitter=Jitter.NONE),
        children=[
            Child(name="steady", target=idle),
            Child(name="broker", target=crash_loop),
        ],
    )
    # The servers first (their fixtures wait for them blocking the thread),
    # then the tree on the address Prometheus was told.
    address = f"127.0.0.1:{free_port()}"
    routes = EXAMPLES / "alertmanager" / "alertmanager.yml"
    with alertmanager_server(tmp_path, routes) as am:
        config = prometheus_config(tmp_path, address, am)
        with prometheus_server(tmp_path, config):
            async with open_tree(spec, http=address):
                alerts = await alerts_in(am, ALERT, seconds=20)

    (alert,) = alerts
    labels = alert["labels"]
    assert ("app/broker", "warning", "supervisor") == (
        labels["path"],
        labels["severity"],
        labels["job"],
    )
    assert "app/broker" in alert["annotations"]["summary"]
    assert alert["annotations"]["runbook"].endswith("#supervisorchildrestartingoften")
    # Routed by severity: the warning went to the chat receiver.
    assert ["chat"] == [r["name"] for r in alert["receivers"]]


async def alerts_in(am: str, name: str, seconds: float) -> list[dict[str, object]]:
    """Poll Alertmanager's API until an alert *name* is there (or fail at *seconds*)."""
    async with httpx.AsyncClient(base_url=am) as client:
        with trio.move_on_after(seconds):
            while True:
                answer = await client.get(
                    "/api/v2/alerts", params={"filter": f'alertname="{name}"'}
                )
                found: list[dict[str, object]] = answer.json()
                if found:
                    return found
                await trio.sleep(0.25)  # another process's state: nothing to wait on
    pytest.fail(f"{name} did not reach Alertmanager within {seconds:g} s")
