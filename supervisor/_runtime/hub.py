"""
`Hub`: what every node of one tree shares -- the clock, the watchdog, the
tree's version, its crash counters and the abort of a fatal exception.

The nodes reach the tree only through it, so the runtime has no upward
reference from a node to the `Tree` handle (and no import cycle between them).
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from .heartbeat import beat_clock
from .watchdog import Watchdog, detects_stalls


class Hub:
    """The shared machinery of one tree's run (made by the `Tree`, one per tree)."""

    def __init__(self, clock: trio.abc.Clock) -> None:
        #: trio's clock (a MockClock under test), bound once: half the cost of
        #: trio.current_time() on the restart path.
        self.now = clock.current_time
        #: The cheapest read of the same clock, and its offset (see beat_clock).
        self.beat_clock, self.beat_offset = beat_clock(clock)
        self.watchdog = Watchdog(self.now, detect_stalls=detects_stalls(clock))
        #: Bumped on every change anywhere in the tree; snapshots carry it.
        self.version = 0
        #: Every child_crashed event, by reason, since the tree started.
        self.crashes: dict[str, int] = {}
        #: A KeyboardInterrupt/SystemExit raised inside a child: re-raised at the root.
        self.fatal: BaseException | None = None
        #: What an abort does first (the tree sets it: close the user's root).
        self.on_abort: Callable[[], None] = lambda: None
        # Set and dropped by bump() while someone waits for a change.
        self._changed: trio.Event | None = None

    def bump(self) -> None:
        """Something in the tree changed: cached documents are stale."""
        self.version += 1
        changed = self._changed
        if changed is not None:
            self._changed = None
            changed.set()

    async def wait_change(self) -> None:
        """Wait until the next `bump`."""
        if self._changed is None:
            self._changed = trio.Event()
        await self._changed.wait()

    def count_crash(self, reason: str) -> None:
        # Tree-wide and never reset (a restarted subtree starts its own
        # counters afresh, as in OTP): one per child_crashed event.
        self.crashes[reason] = self.crashes.get(reason, 0) + 1

    @property
    def aborted(self) -> bool:
        """A KeyboardInterrupt or SystemExit from a child is stopping the tree."""
        return self.fatal is not None

    def abort(self, exc: BaseException) -> None:
        """A child raised *exc* (fatal): stop the tree in order, re-raise it at the root."""
        if self.fatal is None:
            self.fatal = exc
        self.on_abort()
