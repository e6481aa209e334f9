"""
`heartbeat()`: a child says "I am alive". The hot path of the whole library.

A beat stores one float on the current `Incarnation` (`_incarnation`) and nothing
else: no lock, no await, no trio call, no deadline moved (moving a cancel
scope's deadline costs twenty beats). The watchdog (`_watchdog`) reads the
incarnation when a check falls due, so the cost of checking does not grow with how
often children beat.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import trio

from .._errors import NotInChild
from .slot import CURRENT

_current = CURRENT.get


def heartbeat() -> None:
    """
    Tell the supervisor that the calling child is alive.

    Call it from the child, or from any task the child spawned, more often
    than the child's *heartbeat_timeout*. A beat counts for the incarnation
    that spawned the calling task, and only while it runs. A child that
    misses it is cancelled and restarted as a crash with reason
    ``heartbeat_timeout``. Calling it from a child without a
    *heartbeat_timeout* is allowed and does nothing useful.

    O(1), allocation-free apart from the float it stores, never awaits; safe in
    tight loops.

    Raises:
        NotInChild: Called outside a supervised child, or from a task that
            outlived the incarnation it was spawned by: a beat nobody watches is
            almost certainly a bug (a task spawned into a nursery outside the
            child, or code run before the tree started).
    """
    inc = _current(None)
    if inc is None:
        raise NotInChild(
            "heartbeat() must be called from inside a supervised child "
            "(or a task it spawned)"
        )
    inc.at = inc.clock()


def beat_clock(clock: trio.abc.Clock) -> tuple[Callable[[], float], float]:
    """
    The cheapest function giving *clock*'s time, and the offset to add to it.

    trio's SystemClock is ``perf_counter() + offset``: calling the builtin
    ``time.perf_counter`` directly skips a Python-level method call (the whole
    point on a path taken millions of times). Any other clock (a MockClock in
    tests) is called as it is, so tests stay exact.
    """
    kind = type(clock)
    if kind.__name__ == "SystemClock" and kind.__module__.startswith("trio."):
        return time.perf_counter, float(clock.offset)  # type: ignore[attr-defined]
    return clock.current_time, 0.0
