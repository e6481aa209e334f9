"""
One run of a child (`Incarnation`): from its launch (its backoff wait
included) to its exit. A child between runs has none (``slot.current is None``).

Everything that belongs to one run lives here and goes with it: its cancel
scope, the stop delivered to it, its watchdog timers, the beat its code
stores. Whatever still holds an incarnation that ended (a watchdog timer, a
task it left behind) tells by identity that it is stale:
``inc.slot.current is not inc``; nothing is reset field by field.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING

import trio

from .._errors import NotInChild

if TYPE_CHECKING:
    from .._policy.states import Reason
    from .slot import Slot
    from .watchdog import Timer


class Incarnation:
    """
    One run of a child, as the supervisor and the child's own code see it.

    *at* is the time of the last beat on the *raw* beat clock (see
    `_heartbeat.beat_clock`); the watchdog adds the clock's offset when it
    compares. `heartbeat()` stores it and nothing else.
    """

    __slots__ = (
        "at",
        "beat_timer",
        "cancel_reason",
        "clock",
        "done",
        "error",
        "handle",
        "next_start_at",
        "running",
        "scope",
        "slot",
        "start_timer",
        "stop_event",
        "stop_timer",
        "stopping",
    )

    def __init__(
        self,
        slot: Slot,
        clock: Callable[[], float],
        stop_event: trio.Event | None,
        next_start_at: float | None,
    ) -> None:
        self.slot = slot
        self.clock = clock
        self.at = 0.0
        self.scope = trio.CancelScope()
        # Graceful-stop children only: set when the supervisor asks it to return.
        self.stop_event = stop_event
        # When its backoff wait ends; None once its code is called.
        self.next_start_at = next_start_at
        # Counted as started.
        self.running = False
        # Its supervisor is stopping it: its end is not a crash.
        self.stopping = False
        # Made once a stop is delivered to it; set when it ended.
        self.done: trio.Event | None = None
        # Why the supervisor (or its watchdog) cancelled it, if it did.
        self.cancel_reason: Reason | None = None
        # The exception its cancellation stands for (`supervisor.testing.crash`):
        # unless it is being stopped, it ends as if it had raised it.
        self.error: Exception | None = None
        # What its runner holds for this run (a `Process` child's process).
        self.handle: object | None = None
        # Pending watchdog timers (their target is this incarnation).
        self.start_timer: Timer | None = None
        self.beat_timer: Timer | None = None
        self.stop_timer: Timer | None = None

    def cancel(self, reason: Reason) -> None:
        """Cancel it for *reason*; the first reason stays."""
        if self.cancel_reason is None:
            # A stop of a child the watchdog already cancelled does not turn
            # its heartbeat_timeout into a shutdown.
            self.cancel_reason = reason
        self.scope.cancel()

    def end(self) -> None:
        """
        It ended. A task that outlived it (spawned into a nursery outside the
        child, it still carries the child's context) gets `NotInChild` from
        its next beat: the clock it reads now raises, so the beat itself stays
        one call and one store.
        """
        self.clock = functools.partial(_outlived, self.slot.path)

    @property
    def ended(self) -> bool:
        return self.slot.current is not self


def _outlived(path: str) -> float:
    raise NotInChild(
        f"heartbeat() from a task that outlived its child: {path}'s incarnation "
        "has ended (a task spawned into a nursery outside the child keeps its "
        "context, not its life); beat only from the child and its own nurseries"
    )


# The incarnation whose code is running; trio copies context into the tasks a
# child spawns, so beats from its helper tasks land on the same incarnation.
CURRENT: ContextVar[Incarnation] = ContextVar("supervisor_current_child")
