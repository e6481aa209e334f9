"""
How the runtime handles an impossible state change (`Slot.move`): the test
suite fails at once, production logs the bug and goes on.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from supervisor import Child, State
from supervisor._policy import lifecycle
from supervisor._runtime.slot import Slot, make_slot


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


def test_the_runtime_changes_a_state_only_through_the_table() -> None:
    """No `x.state = ...` in the package but in Slot.move: every change is checked."""
    package = Path(lifecycle.__file__).parent.parent
    sites = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AugAssign | ast.AnnAssign)
                else []
            )
            sites.extend(
                f"{path.relative_to(package).as_posix()}:{node.lineno}"
                for t in targets
                if isinstance(t, ast.Attribute) and t.attr == "state"
            )

    assert sites == [f"_runtime/slot.py:{_move_line()}"]


def _move_line() -> int:
    source = inspect.getsource(Slot.move)
    first = inspect.getsourcelines(Slot.move)[1]
    return first + next(
        i for i, line in enumerate(source.splitlines()) if "self.state =" in line
    )
