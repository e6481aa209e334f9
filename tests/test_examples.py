"""
The demo tree behaves as the README says, under a MockClock.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import structlog
import trio

from supervisor import State, open_tree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

import demo


async def test_demo_tree_rides_out_its_flaky_workers(autojump_clock: Any) -> None:
    """
    Over ten virtual minutes: config returns once, the cache is up, the poller and
    the connection crash and are restarted, and the root never gives up.
    """
    random.seed(7)
    with structlog.testing.capture_logs() as logs:
        async with open_tree(demo.tree()) as tree:
            await trio.sleep(600)
            snap = tree.snapshot()

    assert State.STOPPED == snap.node("demo/config").state
    assert 1 == snap.node("demo/config").starts
    assert State.RUNNING == snap.node("demo/cache").state
    assert snap.node("demo/poller").restarts > 5
    assert snap.node("demo/consumers/connection").restarts > 5
    # REST_FOR_ONE: every connection restart restarts the consumer after it.
    consumer = snap.node("demo/consumers/consumer")
    assert consumer.starts == snap.node("demo/consumers/connection").starts
    assert "intensity_exceeded" not in {e["event"] for e in logs}
