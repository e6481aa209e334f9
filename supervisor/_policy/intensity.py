"""
Restart intensity: how many restarts a supervisor tolerates per period.

Pure and clock-free (callers pass ``now``); nothing here may import trio.
"""

from __future__ import annotations

from collections import deque


class RestartWindow:
    """
    A sliding window over the restart times of one supervisor.

    A restart at time *t* still counts at time *now* while ``now - t <= period``,
    as in OTP's ``add_restart``. `admit` records a restart and answers whether the
    supervisor may go on: False once more than *intensity* restarts fall in the
    window. The window never holds more than ``intensity + 1`` times, so the
    cost of a restart does not grow with the supervisor's history.
    """

    __slots__ = ("_period", "_times", "intensity")

    def __init__(self, intensity: int, period: float) -> None:
        self.intensity = intensity
        self._period = period
        # Oldest first. maxlen drops times that could no longer change a verdict:
        # only the newest intensity + 1 decide whether the limit is exceeded.
        self._times: deque[float] = deque(maxlen=intensity + 1)

    def admit(self, now: float) -> bool:
        """Record a restart at *now*; False if that exceeds the intensity."""
        times = self._times
        times.append(now)
        period = self._period
        while now - times[0] > period:
            times.popleft()
        return len(times) <= self.intensity
