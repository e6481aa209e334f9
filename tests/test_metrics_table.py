"""
Metric names live in one table (`supervisor.metrics.METRICS`): what a scrape
exposes and what docs/http.md lists are both checked against it.
"""

from __future__ import annotations

import re
from pathlib import Path

import trio
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from supervisor import Check, Child, Reason, Supervisor, open_tree
from supervisor.metrics import METRICS, RESTART_CAUSES, TreeCollector, registry_for

DOCS = Path(__file__).resolve().parent.parent / "docs" / "http.md"


def documented() -> dict[str, tuple[str, ...]]:
    """The metrics reference in docs/http.md: exposed name -> labels."""
    text = DOCS.read_text().split("## Metrics", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(supervisor_[a-z_]+)` \|\s*([^|]*?)\s*\|", text, re.M)
    return {name: tuple(re.findall(r"`([a-z_]+)`", labels)) for name, labels in rows}


def test_the_docs_list_exactly_the_table() -> None:
    table = {m.exposed: m.labels for m in METRICS.values()}

    assert table == documented()


async def _ok() -> None:
    return None


async def test_a_scrape_exposes_only_metrics_of_the_table() -> None:
    spec = Supervisor(name="app", children=[Child(name="w", target=trio.sleep_forever)])
    async with open_tree(
        spec,
        loop_block_threshold=None,
        checks=[Check(name="db", fn=_ok, interval=1)],
    ) as tree:
        await trio.sleep(0.1)
        checks = tree.observer.checks
        registry = registry_for(TreeCollector(tree.snapshot, checks))
        text = generate_latest(registry).decode()

    families = {f.name: f for f in text_string_to_metric_families(text)}

    assert set(METRICS) == set(families)
    for name, family in families.items():
        spec_ = METRICS[name]
        assert spec_.kind == family.type, name
        for sample in family.samples:
            assert set(spec_.labels) == set(sample.labels), name


async def test_every_childs_restart_causes_are_exported_at_zero_from_the_start() -> (
    None
):
    """
    Before any restart, every node but the root has one restart series per cause
    at 0 (Prometheus' increase() ignores a series' first sample: a series born
    at 6 would hide a burst from the restart alert); and the causes are every
    exit reason that can restart a child, plus sweep and manual.
    """
    spec = Supervisor(
        name="app",
        children=[
            Child(name="w", target=trio.sleep_forever),
            Supervisor(
                name="sub", children=[Child(name="x", target=trio.sleep_forever)]
            ),
        ],
    )
    async with open_tree(spec, loop_block_threshold=None) as tree:
        registry = registry_for(TreeCollector(tree.snapshot, tree.observer.checks))
        text = generate_latest(registry).decode()
    restarts = {
        (s.labels["path"], s.labels["reason"]): s.value
        for f in text_string_to_metric_families(text)
        if f.name == "supervisor_child_restarts"
        for s in f.samples
        if s.name == "supervisor_child_restarts_total"
    }
    causes = {str(r) for r in Reason if r is not Reason.SHUTDOWN} | {"sweep", "manual"}

    assert {"crash", "heartbeat_timeout", "start_timeout", "escalated"} <= causes
    assert set(RESTART_CAUSES) == causes
    assert {
        (path, cause): 0.0
        for path in ("app/w", "app/sub", "app/sub/x")
        for cause in causes
    } == restarts
