"""
The tree's one timer task: heartbeat checks, start timeouts, stop bounds.

A heap of (time, seq, timer) entries and a single task that sleeps until the
earliest one. A heartbeat check that finds a newer beat is pushed back to that
beat's expiry, so each watched child costs one heap operation per timeout
period, whatever its beat rate: O(log n) per check, never a poll of every
child per tick.

Timers of an incarnation that ended are marked dead rather than searched for
(and let go of their target, which may hold them);
when dead entries outnumber live ones the heap is rebuilt, so a crash loop
cannot grow it without bound.

Time the event loop could not run does not count against any timer. A
synchronous call that blocks the trio thread (or a long garbage collection)
stops the watchdog too, which then wakes late: lateness beyond `STALL` is a
stall of the loop (the loop watcher, `_loopwatch`, reports long ones as
``event_loop_blocked``). While a timer is pending the watchdog wakes at least
every `TICK`, so a stall is measured to within a tick wherever it falls. On a
stall the watchdog

* adds the time it overslept to its stall total; each timer carries the total
  of when its due time was set, and before it may fire it is postponed by
  what the total grew since (once: the postponed entry carries the new total).
  A timer set after the block but before the watchdog ran (a task ahead of it
  in the batch) already carries the stall;
* judges nothing before every task has run: it waits until all tasks are
  blocked again (trio's idle detection), at most as long as it overslept. The
  children's sleeps ended during the block too, so they are runnable in the
  same scheduling batch as the watchdog; whatever trio's (random) order, a
  child that can beat has beaten before its check is read.

Under sustained overload (every wake late) that wait is as long as the
lateness credited, so timers still advance at half speed or better: a hung
child is found later, never not at all.

Not under a `trio.testing.MockClock`: there time moves when the test says,
and ``clock.jump()`` means time passing, as trio documents it (a test jumps
past a heartbeat timeout to see the child found hung). Tests of the stall
logic make `detects_stalls` say yes, and jump from inside a task.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import Any

import trio
import trio.testing
from trio.testing import wait_all_tasks_blocked

_PRUNE_MIN = 1024  # below this many entries dead ones are cheaper to keep

#: Seconds past its deadline at which a wake of the watchdog counts as a stall
#: of the loop. Far above trio's own wake latency (about a millisecond) and
#: the scheduling batches of a busy tree; below any sensible heartbeat timeout.
STALL = 0.05
#: Longest sleep of the watchdog while a timer is pending.
TICK = 0.1


def detects_stalls(clock: trio.abc.Clock) -> bool:
    """Whether a late wake on *clock* is a stall: on any clock but a MockClock."""
    return not isinstance(clock, trio.testing.MockClock)


class Timer:
    """
    One pending call of ``fn(arg, now)``; it returns a time to be called again, or None.

    *stalled* is the watchdog's stall total when the due time was set.
    """

    __slots__ = ("alive", "arg", "fn", "stalled")

    def __init__(
        self, fn: Callable[[Any, float], float | None], arg: Any, stalled: float
    ) -> None:
        self.fn = fn
        self.arg = arg
        self.alive = True
        self.stalled = stalled


class Watchdog:
    """The timer heap of one tree and the task that serves it."""

    def __init__(self, now: Callable[[], float], *, detect_stalls: bool) -> None:
        self._now = now
        #: Credit the loop's stalls to the timers (see the module doc).
        self.detect_stalls = detect_stalls
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = 0
        self._dead = 0
        # The running task's sleep, and when it will wake; None before run().
        self._wake: trio.CancelScope | None = None
        self._wake_at = math.inf
        self._stopped = False
        #: Seconds the loop was found stalled, in total (only grows).
        self.stalled = 0.0
        #: Stalls found (wakes later than STALL past their deadline).
        self.stalls = 0
        # When the running task began its sleep, while it sleeps detecting stalls.
        self._slept_from: float | None = None

    def call_at(
        self, at: float, fn: Callable[[Any, float], float | None], arg: Any
    ) -> Timer:
        """Call ``fn(arg, now)`` at trio time *at* (or soon after)."""
        # Set after a stall the watchdog has not woken up to yet: not postponed by it.
        timer = Timer(fn, arg, self.stalled + self._overslept())
        self._push(at, timer)
        return timer

    def cancel(self, timer: Timer | None) -> None:
        """Forget *timer* (if it has not fired yet)."""
        if timer is not None and timer.alive:
            timer.alive = False
            timer.arg = None  # its target may hold it: no cycle through a dead timer
            self._dead += 1
            if self._dead > _PRUNE_MIN and self._dead * 2 > len(self._heap):
                self._prune()

    def _push(self, at: float, timer: Timer) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, timer))
        if at < self._wake_at and self._wake is not None:
            # Moving a deadline costs as much as a thousand heap pushes, so
            # only when the new entry is the earliest of all.
            if self.detect_stalls:
                at = min(at, self._now() + TICK)
            self._wake_at = self._wake.deadline = at

    def stop(self) -> None:
        """End `run` (after the tree's last stop has been bounded)."""
        self._stopped = True
        if self._wake is not None:
            self._wake.cancel()

    @property
    def pending(self) -> int:
        """Live timers; for tests and snapshots."""
        return len(self._heap) - self._dead

    async def run(self) -> None:
        heap = self._heap
        while not self._stopped:
            detect = self.detect_stalls
            self._wake_at = heap[0][0] if heap else math.inf
            if detect:
                self._slept_from = self._now()
                # While any timer is pending, wake at least every TICK: a stall
                # is then measured to within a tick, whenever it falls.
                self._wake_at = min(self._wake_at, self._slept_from + TICK)
            with trio.CancelScope(deadline=self._wake_at) as self._wake:
                await trio.sleep_forever()
            late = self._overslept()
            self._slept_from = None
            if late and not self._stopped:
                await self._stalled_for(late)
            self._fire_due(heap)
        self._wake = None

    def _overslept(self) -> float:
        """How much later than its deadline the sleeping watchdog is, if a stall."""
        if self._slept_from is None:
            return 0.0  # awake (or not detecting stalls): nothing uncredited
        late = self._now() - max(self._wake_at, self._slept_from)
        return late if late > STALL else 0.0

    async def _stalled_for(self, late: float) -> None:
        """The loop could not run for (at least) *late* seconds: see the module doc."""
        self.stalled += late
        self.stalls += 1
        # No push may cut this short (they only move a deadline earlier); stop() may.
        self._wake_at = -math.inf
        with trio.move_on_after(late) as self._wake:
            await wait_all_tasks_blocked()

    def _fire_due(self, heap: list[tuple[float, int, Timer]]) -> None:
        now = self._now()
        stalled = self.stalled
        while heap and heap[0][0] <= now:
            at, _, timer = heapq.heappop(heap)
            if not timer.alive:
                self._dead -= 1
                continue
            if timer.stalled != stalled:
                # Set before a stall: the blocked time does not count.
                self._seq += 1
                heapq.heappush(heap, (at + stalled - timer.stalled, self._seq, timer))
                timer.stalled = stalled
                continue
            again = timer.fn(timer.arg, now)
            if again is None:
                timer.alive = False
                timer.arg = None
            else:
                self._seq += 1
                heapq.heappush(heap, (again, self._seq, timer))

    def _prune(self) -> None:
        self._heap[:] = [entry for entry in self._heap if entry[2].alive]
        heapq.heapify(self._heap)
        self._dead = 0
