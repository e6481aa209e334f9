"""The per-child budget of output lines logged per second (a token bucket)."""

from __future__ import annotations

import pytest

from supervisor._policy.process import LineBudget


@pytest.mark.parametrize(
    ("rate", "times", "allowed", "dropped"),
    [
        # A burst of one second's worth, then nothing until time passes.
        (3, [0, 0, 0, 0, 0], 3, 2),
        # Half a second refills half the bucket.
        (4, [0, 0, 0, 0, 0.5, 0.5, 0.5], 6, 1),
        # The bucket never holds more than one second's worth.
        (2, [0, 10, 10, 10, 10], 3, 2),
        # A steady trickle under the rate is never dropped.
        (10, [i * 0.2 for i in range(20)], 20, 0),
        # A clock that goes back (never, but) refills nothing.
        (1, [5, 4, 4], 1, 2),
    ],
)
def test_line_budget(rate: int, times: list[float], allowed: int, dropped: int) -> None:
    budget = LineBudget(rate, times[0])

    results = [budget.allow(t) for t in times]

    assert (sum(results), budget.dropped) == (allowed, dropped)
