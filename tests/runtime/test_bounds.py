"""
Resource bounds: memory stays flat over 100,000 restarts, and what the tree
keeps per child does not grow with its history.
"""

from __future__ import annotations

import gc
from typing import Any

import trio

from supervisor import Backoff, Child, Jitter, Strategy, Supervisor, open_tree
from supervisor._runtime.node import Node
from supervisor.checks import _rss_bytes


async def test_memory_is_flat_over_100_000_restarts(autojump_clock: Any) -> None:
    """
    A child with a heartbeat timeout crash-loops 100,000 times (1 ms each) with zero backoff:
    RSS after the first 10,000 restarts and after all of them differ by less than
    8 MiB, and the per-child state (intensity window, timers) stays bounded.
    """
    count = 0
    checkpoints: dict[int, float] = {}
    done = trio.Event()

    async def crashy() -> None:
        nonlocal count
        count += 1
        if count in (10_000, 100_000):
            gc.collect()
            checkpoints[count] = _rss_bytes()
        if count > 100_000:
            done.set()
            await trio.sleep_forever()
        await trio.sleep(0.001)  # virtual time moves on, as it would for real
        raise RuntimeError("boom")

    spec = Supervisor(
        name="root",
        intensity=1_000,
        period=0.5,  # about 500 restarts per window: the window slides, never trips
        backoff=Backoff(initial=0),
        children=[Child(name="c", target=crashy, heartbeat_timeout=60)],
    )
    async with open_tree(spec, loop_block_threshold=None) as tree:
        await done.wait()
        node = tree.snapshot().node("root/c")
        root = tree._root

        assert 100_000 == node.restarts
        assert len(root.window._times) <= root.window.intensity + 1
        assert tree._hub.watchdog.pending <= 2
        assert len(tree._hub.watchdog._heap) < 2_100

    growth = checkpoints[100_000] - checkpoints[10_000]
    print(f"RSS growth over 90,000 restarts: {growth / 2**20:.2f} MiB")
    assert growth < 8 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB"


async def test_restarted_subtrees_leave_no_cycles_behind(autojump_clock: Any) -> None:
    """
    A subtree that gives up, or is stopped by a sweep, is freed by reference
    counting as soon as it is replaced: no node waits in a reference cycle for
    a full garbage collection (on a large tree, those pauses are what probes
    would wait for).
    """

    async def crash_soon() -> None:
        await trio.sleep(0.1)
        raise RuntimeError("boom")

    sub = Supervisor(
        name="sub",
        intensity=1,
        period=1,
        backoff=Backoff(initial=0),
        children=[Child(name=f"w{i}", target=crash_soon) for i in range(3)],
    )
    spec = Supervisor(
        name="root",
        strategy=Strategy.ONE_FOR_ALL,  # b's crashes stop sub with a cancellation
        intensity=10_000,
        period=1,
        backoff=Backoff(initial=0.05, factor=1, jitter=Jitter.NONE),
        children=[sub, Child(name="b", target=crash_soon)],
    )
    gc.collect()
    gc.disable()
    try:
        async with open_tree(spec, loop_block_threshold=None) as tree:
            await trio.sleep(30)
            node = tree.snapshot().node("root/sub")
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            cyclic = [o for o in gc.garbage if isinstance(o, Node | BaseException)]
            gc.set_debug(0)
            gc.garbage.clear()
    finally:
        gc.enable()
    assert (True, True) == (node.starts > 20, node.intensity_exceeded > 5)
    assert [] == cyclic
