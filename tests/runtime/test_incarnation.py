"""
One `Incarnation` per run of a child: a child between runs has none, what
belongs to a run goes with it, and staleness is identity.
"""

from __future__ import annotations

from typing import Any

import attrs
import trio

from supervisor import Backoff, Child, Jitter, Supervisor, heartbeat, open_tree, testing
from supervisor._runtime.slot import Incarnation, Slot

# What belongs to one run of a child, and so to its incarnation, not its slot.
PER_RUN = {
    "scope",
    "done",
    "stop_event",
    "stopping",
    "running",
    "next_start_at",
    "cancel_reason",
    "injected",
    "cell",
    "start_timer",
    "beat_timer",
    "stop_timer",
    "restarts",  # derived: the sum of restarts_by_reason
}


def test_a_slot_keeps_no_state_of_one_run() -> None:
    fields = attrs.fields_dict(Slot)
    assert set() == PER_RUN & set(fields)
    assert "current" in fields
    assert "__dict__" not in dir(Incarnation(None, float, None, None))  # type: ignore[arg-type]


async def test_a_child_between_runs_has_no_incarnation(autojump_clock: Any) -> None:

    async def worker() -> None:
        heartbeat()
        await trio.sleep_forever()

    spec = Supervisor(
        name="root",
        backoff=Backoff(initial=1, jitter=Jitter.NONE),
        children=[Child(name="w", target=worker, heartbeat_timeout=5)],
    )
    async with open_tree(spec, loop_block_threshold=None) as tree:
        _, slot = tree._child("root/w")
        first = slot.current
        assert first is not None
        assert first.running
        assert not first.ended

        testing.crash(tree, "root/w")
        await trio.sleep(0.5)  # in backoff: a new incarnation, not yet called
        backoff = slot.current
        assert backoff is not None
        assert backoff is not first
        assert (first.ended, backoff.running) == (True, False)
        assert backoff.next_start_at is not None

        await trio.sleep(1)
        assert slot.current is backoff
        assert backoff.running
        assert (2, 1) == (slot.starts, slot.restarts)

        await tree.terminate_child("root/w")
        assert slot.current is None
        assert (slot.active, slot.running) == (False, False)
        assert backoff.ended
        # Its timers let go of it: nothing but this test holds the old runs.
        assert 0 == tree._hub.watchdog.pending
