"""
How the runtime handles an impossible state change (`Slot.move`): the test
suite fails at once, production logs the bug and goes on.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from supervisor import Child, State
from supervisor._policy import lifecycle
from supervisor._slot import make_slot


async def _work() -> None:
    pass


@pytest.fixture
def production() -> Iterator[None]:
    lifecycle.STRICT = False
    try:
        yield
    finally:
        lifecycle.STRICT = True


def test_a_possible_change_moves_the_state() -> None:
    slot = make_slot(Child(name="w", target=_work), "app/w", 0, None)

    slot.move(lifecycle.LAUNCH)

    assert slot.state is State.STARTING


def test_an_impossible_change_raises_in_the_test_suite() -> None:
    slot = make_slot(Child(name="w", target=_work), "app/w", 0, None)
    slot.state = State.RUNNING

    with pytest.raises(lifecycle.LifecycleError, match="app/w: 'launch' cannot"):
        slot.move(lifecycle.LAUNCH)
    assert slot.state is State.RUNNING


@pytest.mark.usefixtures("production")
def test_an_impossible_change_is_logged_in_production_and_the_tree_goes_on() -> None:
    slot = make_slot(Child(name="w", target=_work), "app/w", 0, None)
    slot.state = State.STOPPED

    with capture_logs() as logs:
        slot.move(lifecycle.STARTED)

    assert slot.state is State.RUNNING  # where the event leads, as before the table
    assert logs == [
        {
            "event": "lifecycle_violation",
            "log_level": "error",
            "path": "app/w",
            "problem": "'started' cannot happen to a child in state 'stopped'",
        }
    ]
