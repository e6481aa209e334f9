"""
The tree's one timer task: heartbeat checks, start timeouts, stop bounds.

A heap of (time, seq, timer) entries and a single task that sleeps until the
earliest one. A heartbeat check that finds a newer beat is pushed back to that
beat's expiry, so each watched child costs one heap operation per timeout
period, whatever its beat rate: O(log n) per check, never a poll of every
child per tick.

Timers of an incarnation that ended are marked dead rather than searched for;
when dead entries outnumber live ones the heap is rebuilt, so a crash loop
cannot grow it without bound.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import Any

import trio

_PRUNE_MIN = 1024  # below this many entries dead ones are cheaper to keep


class Timer:
    """
    One pending call of ``fn(arg, now)``; it returns a time to be called again, or None.
    """

    __slots__ = ("alive", "arg", "fn")

    def __init__(self, fn: Callable[[Any, float], float | None], arg: Any) -> None:
        self.fn = fn
        self.arg = arg
        self.alive = True


class Watchdog:
    """The timer heap of one tree and the task that serves it."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = 0
        self._dead = 0
        # The running task's sleep, and when it will wake; None before run().
        self._wake: trio.CancelScope | None = None
        self._wake_at = math.inf
        self._stopped = False

    def call_at(
        self, at: float, fn: Callable[[Any, float], float | None], arg: Any
    ) -> Timer:
        """Call ``fn(arg, now)`` at trio time *at* (or soon after)."""
        timer = Timer(fn, arg)
        self._push(at, timer)
        return timer

    def cancel(self, timer: Timer | None) -> None:
        """Forget *timer* (if it has not fired yet)."""
        if timer is not None and timer.alive:
            timer.alive = False
            self._dead += 1
            if self._dead > _PRUNE_MIN and self._dead * 2 > len(self._heap):
                self._prune()

    def _push(self, at: float, timer: Timer) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, timer))
        if at < self._wake_at and self._wake is not None:
            # Moving a deadline costs as much as a thousand heap pushes, so
            # only when the new entry is the earliest of all.
            self._wake_at = at
            self._wake.deadline = at

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
            self._wake_at = heap[0][0] if heap else math.inf
            with trio.CancelScope(deadline=self._wake_at) as self._wake:
                await trio.sleep_forever()
            self._fire_due(heap)
        self._wake = None

    def _fire_due(self, heap: list[tuple[float, int, Timer]]) -> None:
        now = self._now()
        while heap and heap[0][0] <= now:
            _, _, timer = heapq.heappop(heap)
            if not timer.alive:
                self._dead -= 1
                continue
            again = timer.fn(timer.arg, now)
            if again is None:
                timer.alive = False
            else:
                self._seq += 1
                heapq.heappush(heap, (again, self._seq, timer))

    def _prune(self) -> None:
        self._heap[:] = [entry for entry in self._heap if entry[2].alive]
        heapq.heapify(self._heap)
        self._dead = 0
