"""
The blocked-event-loop watcher, with the real clock: a blocked loop is a
wall-clock fact, so this is where real time is the point (generous bounds).
"""

from __future__ import annotations

import threading
import time

import pytest
import structlog
import trio
import trio.lowlevel

import supervisor
from supervisor import Child, Supervisor, open_tree


def blocking_poller(ready: trio.Event) -> object:
    async def poll_with_a_blocking_call() -> None:
        await ready.wait()
        time.sleep(0.5)  # noqa: ASYNC251 - the bug being caught: a sync call on the trio thread
        await trio.sleep_forever()

    return poll_with_a_blocking_call


async def test_blocked_loop_is_reported_with_the_offending_frame() -> None:
    """
    A child that calls time.sleep(0.5) with a 0.2 s threshold: one event_loop_blocked
    event whose stack names the child's function, then event_loop_unblocked.
    """
    ready = trio.Event()
    spec = Supervisor(
        name="root", children=[Child(name="p", target=blocking_poller(ready))]
    )
    with structlog.testing.capture_logs() as logs:
        async with open_tree(spec, loop_block_threshold=0.2) as tree:
            await trio.sleep(0.3)  # let the watcher see a healthy loop first
            ready.set()
            await trio.sleep(0.6)
            health = tree.snapshot().event_loop

    blocked = [e for e in logs if e["event"] == "event_loop_blocked"]
    unblocked = [e for e in logs if e["event"] == "event_loop_unblocked"]
    assert 1 == len(blocked)
    assert 1 == len(unblocked)
    assert any("in poll_with_a_blocking_call" in frame for frame in blocked[0]["stack"])
    assert any("time.sleep(0.5)" in frame for frame in blocked[0]["stack"])
    assert 0.2 <= blocked[0]["blocked_for"] < 0.5
    assert 0.25 <= unblocked[0]["blocked_for"] <= 0.6
    assert (False, 1, 0.2) == (health.blocked, health.blocked_count, health.threshold)
    assert 0.25 <= health.blocked_seconds_total <= 0.6


async def test_no_event_when_nothing_blocks() -> None:
    """
    A busy but cooperative loop is never reported.
    """

    async def cooperative() -> None:
        while True:
            deadline = time.perf_counter() + 0.01
            while time.perf_counter() < deadline:  # short bursts of CPU
                pass
            await trio.lowlevel.checkpoint()

    spec = Supervisor(name="root", children=[Child(name="c", target=cooperative)])
    with structlog.testing.capture_logs() as logs:
        async with open_tree(spec, loop_block_threshold=0.2) as tree:
            await trio.sleep(0.8)
            health = tree.snapshot().event_loop

    assert [] == [e for e in logs if e["event"].startswith("event_loop")]
    assert (False, 0) == (health.blocked, health.blocked_count)


async def test_watcher_thread_stops_with_the_tree() -> None:
    """
    The watcher thread exists while the tree runs and is joined when it stops.
    """

    def watchers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "supervisor-loopwatch"]

    spec = Supervisor(
        name="root", children=[Child(name="c", target=trio.sleep_forever)]
    )
    async with open_tree(spec, loop_block_threshold=0.2):
        assert 1 == len(watchers())

    assert [] == watchers()


async def test_watching_can_be_turned_off_and_bad_thresholds_refused() -> None:
    """
    loop_block_threshold=None runs no thread; a non-positive threshold is a SpecError.
    """
    spec = Supervisor(
        name="root", children=[Child(name="c", target=trio.sleep_forever)]
    )
    async with open_tree(spec, loop_block_threshold=None) as tree:
        assert tree.snapshot().event_loop.threshold is None
    with pytest.raises(supervisor.SpecError, match="loop_block_threshold must be > 0"):
        async with open_tree(spec, loop_block_threshold=0):
            pass  # pragma: no cover
