"""
Backoff schedule of one child, on top of the `backoff` package's wait generators.

Pure and clock-free: the caller says how long the child ran; nothing here may
import trio. (backoff's decorators sleep with asyncio; only its generators and
jitter functions are used.)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import backoff

from .._spec import Backoff, Jitter, JitterFn

_JITTERS: dict[Jitter, JitterFn | None] = {
    Jitter.NONE: None,
    Jitter.FULL: backoff.full_jitter,
    Jitter.RANDOM: backoff.random_jitter,
}


def jitter_function(jitter: Jitter | JitterFn) -> JitterFn | None:
    """The function applied to each delay, or None for exact delays."""
    return _JITTERS[jitter] if isinstance(jitter, Jitter) else jitter


class BackoffSchedule:
    """
    The delays before successive restarts of one child.

    `note_run` is told how long each incarnation ran, however it ended; a run
    of at least ``reset_after`` seconds starts the schedule over from
    ``initial``. `next_delay` is called once per restart.
    """

    __slots__ = ("_gen", "_jitter", "_spec", "attempt")

    def __init__(self, spec: Backoff) -> None:
        self._spec = spec
        self._jitter = jitter_function(spec.jitter)
        # Made at the first restart: most children never need one, and a
        # generator per child is a third of a kilobyte.
        self._gen: Iterator[float] | None = None
        # Restarts since the last reset; shown in events as the attempt number.
        self.attempt = 0

    def _fresh(self) -> Iterator[float]:
        spec = self._spec
        if spec.initial == 0:
            # expo would compute 0 * factor**n with n growing forever: a float
            # overflow after about a thousand restarts.
            return itertools.repeat(0.0)
        gen = backoff.expo(base=spec.factor, factor=spec.initial, max_value=spec.max)
        next(gen)  # backoff 2.x generators yield None first, to be primed
        return gen

    def reset(self) -> None:
        """Start over from ``initial`` (the child proved stable)."""
        self._gen = None
        self.attempt = 0

    def note_run(self, ran_for: float) -> None:
        """An incarnation ran *ran_for* seconds; a stable one resets the schedule."""
        if ran_for >= self._spec.reset_after:
            self.reset()

    def next_delay(self) -> float:
        """The delay before the next restart (after `note_run` of the run that ended)."""
        self.attempt += 1
        if self._gen is None:
            self._gen = self._fresh()
        try:
            delay = next(self._gen)
        except OverflowError:
            # factor**n left the floats before initial * factor**n reached max
            # (initial=1e-320, or max=1e308): past max, the delay is max.
            self._gen = itertools.repeat(float(self._spec.max))
            delay = next(self._gen)
        # A zero delay means "no backoff" (OTP's instant restart): jitter would
        # turn it into up to a second with Jitter.RANDOM.
        if self._jitter is not None and delay > 0:
            delay = min(max(self._jitter(delay), 0.0), self._spec.max)
        return delay
