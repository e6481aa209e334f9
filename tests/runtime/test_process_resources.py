"""Per-process resources (psutil) of `Process` children: snapshot, metrics, max_rss."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import trio

from supervisor import Backoff, Jitter, Process, Reason, Supervisor, open_tree
from supervisor._runtime import process_facts
from supervisor.metrics import TreeCollector
from tests._processes import no_leftover_processes, wait_for

__all__ = ["no_leftover_processes"]  # the autouse fixture, imported to be used

QUICK = Backoff(initial=0.2, factor=1.0, max=0.2, jitter=Jitter.NONE)


def node(t: Any, path: str = "root/p") -> Any:
    return t.snapshot().node(path)


async def test_the_process_and_its_descendants_are_measured() -> None:
    spec = Supervisor(
        name="root",
        children=[Process(name="p", argv=["sh", "-c", "sleep 100 & sleep 100 & wait"])],
    )
    async with open_tree(spec) as t:
        await wait_for(lambda: (node(t).process.processes or 0) >= 3)
        process = node(t).process

    assert process.rss > 1_000_000
    assert process.cpu_seconds >= 0
    assert process.open_files >= 3


async def test_over_max_rss_it_is_restarted_as_a_crash() -> None:
    hog = (
        "import time; b = b'x' * 150_000_000; print('big', flush=True); time.sleep(100)"
    )
    spec = Supervisor(
        name="root",
        backoff=QUICK,
        intensity=10,
        children=[
            Process(name="p", argv=[sys.executable, "-c", hog], max_rss=60_000_000)
        ],
    )
    async with open_tree(spec) as t:
        await wait_for(lambda: node(t).restarts >= 1, 20)
        p = node(t)

    assert p.last_exit.reason is Reason.CRASH
    assert p.last_exit.exc_type == "supervisor.ProcessOverMemory"
    assert "over its max_rss of 60000000" in p.last_exit.exc_message


async def test_metrics_carry_exits_kills_and_resources() -> None:
    spec = Supervisor(
        name="root",
        backoff=QUICK,
        intensity=10,
        children=[
            Process(name="p", argv=["sh", "-c", "sleep 0.2; exit 3"]),
            Process(name="q", argv=["sleep", "100"]),
        ],
    )
    async with open_tree(spec) as t:
        await wait_for(lambda: node(t).restarts >= 2)
        await wait_for(lambda: node(t, "root/q").process.rss is not None)
        collector = TreeCollector(t.snapshot, list)
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in collector.collect()
            for s in family.samples
        }

    assert (
        samples[
            (
                "supervisor_process_exits_total",
                (("exit", "exit_code=3"), ("path", "root/p")),
            )
        ]
        >= 2
    )
    assert samples[("supervisor_process_kills_total", (("path", "root/q"),))] == 0
    assert samples[("supervisor_process_resident_bytes", (("path", "root/q"),))] > 0
    assert ("supervisor_intensity_exceeded_total", (("path", "root/q"),)) not in samples
    await trio.lowlevel.checkpoint()


async def test_one_scan_of_the_process_table_per_period_for_all_children(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(process_facts, "SAMPLE_EVERY", 0.2)
    children = [
        Process(name=f"p{i}", argv=["sh", "-c", "sleep 100 & wait"]) for i in range(6)
    ]
    spec = Supervisor(name="root", children=children)
    async with open_tree(spec) as t:
        await wait_for(
            lambda: all(
                (node(t, f"root/p{i}").process.processes or 0) >= 2 for i in range(6)
            )
        )
        shared = process_facts.sampler()
        scans = shared.scans
        start = trio.current_time()
        await trio.sleep(1.0)
        periods = (trio.current_time() - start) / 0.2
        scans = shared.scans - scans

    # 6 children each sampled every period: one scan each would be 6 per period.
    assert scans <= periods + 2, (scans, periods)
