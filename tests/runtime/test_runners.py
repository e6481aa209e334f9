"""
One runner per kind of child (`supervisor._runtime.runners`): the one table that maps
a spec type to its runner and traits; no dispatch on spec kinds elsewhere.
"""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import trio

import supervisor
from supervisor import Child, DynamicSupervisor, Supervisor
from supervisor._runtime.runners import KINDS, SUPERVISOR, TASK, traits
from supervisor._runtime.slot import Incarnation, make_slot
from supervisor._snapshot import Reason
from supervisor._spec import LeafSpec, NodeSpec

PACKAGE = Path(supervisor.__file__).parent
SPEC_KINDS = {"Child", "Supervisor", "DynamicSupervisor"}
# Checks of what a user handed in (not dispatch): the spec module itself, the
# table, the root spec given to Tree, and the object the CLI loaded.
VALIDATION: dict[str, int | None] = {
    "_spec.py": None,
    "_runtime/runners.py": None,
    "_runtime/tree.py": 1,
    "cli/_load.py": 2,  # the object the CLI loaded is a spec
}


def _kind_checks(path: Path) -> int:
    found = 0
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "isinstance"
            and len(node.args) == 2
        ):
            names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
            found += bool(names & SPEC_KINDS)
    return found


def test_no_dispatch_on_spec_kinds_outside_the_table() -> None:
    sites = {
        p.relative_to(PACKAGE).as_posix(): _kind_checks(p)
        for p in sorted(PACKAGE.rglob("*.py"))
    }
    unexpected = {}
    for name, n in sites.items():
        allowed = VALIDATION.get(name, 0)
        if allowed is not None and n > allowed:
            unexpected[name] = n
    assert {} == unexpected


def test_the_table_covers_every_kind_of_spec() -> None:
    # LeafSpec stands for the kinds defined outside _spec (Process): its subclasses.
    kinds = set(typing.get_args(NodeSpec)) - {LeafSpec} | set(LeafSpec.__subclasses__())
    assert kinds == set(KINDS)

    async def work() -> None: ...  # pragma: no cover - never run

    child = Child(name="w", target=work, graceful_stop=True, heartbeat_timeout=3)
    sup = Supervisor(name="s", children=[child])
    dyn = DynamicSupervisor(name="d", template=child)
    assert [("worker", TASK), ("supervisor", SUPERVISOR)] == [
        (traits(s).kind, traits(s).runner) for s in (child, sup)
    ]
    assert ("dynamic_supervisor", SUPERVISOR, True) == (
        traits(dyn).kind,
        traits(dyn).runner,
        traits(dyn).dynamic,
    )
    assert (True, 3) == (traits(child).graceful, traits(child).heartbeat_timeout)
    assert (True, (child,)) == (traits(sup).supervises, traits(sup).children)


def _current(stop_event: trio.Event | None) -> Incarnation:
    """An incarnation that is its slot's current one (an ended one ignores cancels)."""
    slot = make_slot(Child(name="c", target=trio.sleep_forever), "app/c", 0, None)
    inc = slot.current = Incarnation(slot, float, stop_event, None)
    return inc


async def test_a_task_is_asked_then_cancelled_and_then_nothing_is_left() -> None:
    """stop: the graceful request (if it runs); kill: the cancellation, once."""
    graceful = _current(trio.Event())
    graceful.running = True
    TASK.stop(graceful)
    assert graceful.stop_event is not None
    assert (True, False) == (graceful.stop_event.is_set(), graceful.scope.cancel_called)
    assert TASK.kill(graceful)  # its grace is over: cancelled, one more bound
    assert (Reason.SHUTDOWN, True) == (
        graceful.cancel_reason,
        graceful.scope.cancel_called,
    )
    assert not TASK.kill(graceful)  # trio cannot abandon a task

    plain = _current(None)
    TASK.stop(plain)
    assert (Reason.SHUTDOWN, False) == (plain.cancel_reason, TASK.kill(plain))
    node = _current(None)
    SUPERVISOR.stop(node)
    assert (Reason.SHUTDOWN, False) == (node.cancel_reason, SUPERVISOR.kill(node))
