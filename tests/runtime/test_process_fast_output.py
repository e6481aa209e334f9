"""
A program that writes as fast as it can (``yes``) does not stall the tree's
event loop: its lines are handled with a checkpoint every few dozen, and only
``max_lines_per_second`` of them become events (the rest are counted). Real
clock (a real process, and the loop's real stalls are the point), generous
bounds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import trio
from structlog.testing import capture_logs

import supervisor.logging
from supervisor import Child, Process, Supervisor, heartbeat, open_tree
from tests._processes import no_leftover_processes, wait_for

__all__ = ["no_leftover_processes"]  # the autouse fixture, imported to be used

#: The worst stall of the loop allowed while ``yes`` writes (it was ~280 ms).
STALL_BOUND = 0.1


@pytest.fixture
def json_logging() -> Iterator[None]:
    """What ``supervisor run`` configures (JSON lines), written to /dev/null: the real cost per event."""
    with open(os.devnull, "w") as devnull:
        supervisor.logging.configure("json", stream=devnull)
        yield
    # conftest's fixture resets structlog after the test


async def _beating() -> None:
    while True:
        heartbeat()
        await trio.sleep(0.05)


@pytest.mark.usefixtures("json_logging")
async def test_a_flood_of_output_neither_stalls_the_loop_nor_misses_a_beat() -> None:
    spec = Supervisor(
        name="root",
        children=[
            Child(name="beating", target=_beating, heartbeat_timeout=0.2),
            Process(name="yes", argv=["yes", "hello"], max_lines_per_second=500),
        ],
    )
    worst = 0.0
    async with open_tree(spec) as t:
        await wait_for(lambda: t.snapshot().node("root/yes").process.pid)  # type: ignore[union-attr]
        end = time.perf_counter() + 3.0
        while (now := time.perf_counter()) < end:
            await trio.sleep(0.01)
            worst = max(worst, time.perf_counter() - now - 0.01)
        beating = t.snapshot().node("root/beating")
        yes = t.snapshot().node("root/yes").process

    assert beating.restarts == 0
    assert beating.missed_heartbeats == 0
    assert worst < STALL_BOUND, f"the loop stalled {worst * 1000:.0f} ms"
    assert yes is not None
    assert yes.dropped_lines > 10_000  # yes writes far more than 500 lines a second
    assert yes.output[-1] == ("stdout", "hello")


async def test_lines_over_the_budget_are_counted_in_one_event() -> None:
    script = "i=0; while [ $i -lt 50 ]; do echo line $i; i=$((i+1)); done"
    spec = Supervisor(
        name="root",
        children=[
            Process(
                name="p",
                argv=["sh", "-c", script + "; sleep 100"],
                max_lines_per_second=10,
            )
        ],
    )
    with capture_logs() as logs:
        async with open_tree(spec) as t:
            await wait_for(lambda: t.snapshot().node("root/p").process.dropped_lines)  # type: ignore[union-attr]
            await wait_for(
                lambda: len(t.snapshot().node("root/p").process.output) == 20
            )  # type: ignore[union-attr]
        process = t.snapshot().node("root/p").process

    lines = [e["line"] for e in logs if e["event"] == "process_output"]
    dropped = [e for e in logs if e["event"] == "process_output_dropped"]
    assert process is not None
    assert lines[:10] == [f"line {i}" for i in range(10)]
    assert len(lines) + process.dropped_lines == 50
    assert sum(e["dropped"] for e in dropped) == process.dropped_lines
    assert process.output[-1] == ("stdout", "line 49")  # kept for the snapshot anyway
