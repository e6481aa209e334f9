"""
Errors carry data: control errors under one base with ``.path`` (``.limit``),
and the HTTP control route's status codes from one table.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

import supervisor
from supervisor import (
    Child,
    ChildExists,
    ChildLookupError,
    ChildRunning,
    ControlError,
    DynamicSupervisor,
    NotSupported,
    SpecError,
    Supervisor,
    SupervisorError,
    TooManyChildren,
    TreeNotRunning,
    open_tree,
    testing,
)
from supervisor.http._routes import CONTROL_STATUS, control_status

CONTROL_ERRORS = {
    ChildLookupError,
    ChildExists,
    ChildRunning,
    TooManyChildren,
    NotSupported,
    TreeNotRunning,
}


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def test_control_errors_share_one_base_and_the_others_do_not() -> None:
    assert issubclass(ControlError, SupervisorError)
    assert _subclasses(ControlError) == CONTROL_ERRORS
    assert issubclass(ChildLookupError, LookupError)  # as before: except LookupError
    for other in ("SpecError", "TooManyRestarts", "HttpBindError", "BadCheckResult"):
        assert not issubclass(getattr(supervisor, other), ControlError)
    assert not issubclass(supervisor.NotInChild, ControlError)


def test_the_http_table_covers_every_control_error() -> None:
    """One table maps each ControlError to its status; none is left to a default."""
    assert set(CONTROL_STATUS) == _subclasses(ControlError)
    assert CONTROL_STATUS[ChildLookupError] == 404
    for kind, status in CONTROL_STATUS.items():
        assert control_status(kind("root/x", "why")) == status  # type: ignore[arg-type]


def test_a_control_error_keeps_its_message_and_carries_its_path() -> None:
    exc = ChildRunning("root/db", "is running; terminate it first")
    assert (exc.path, exc.detail) == ("root/db", "is running; terminate it first")
    assert str(exc) == "root/db: is running; terminate it first"
    full = TooManyChildren("root/pool", 2)
    assert (full.path, full.limit) == ("root/pool", 2)
    assert str(full) == "root/pool: already runs max_children=2 children"


async def _forever() -> None:
    await trio.sleep_forever()


async def test_every_control_call_raises_with_the_path_as_data(
    autojump_clock: Any,
) -> None:
    pool = DynamicSupervisor(
        name="pool", template=Child(name="w", target=_forever), max_children=1
    )
    spec = Supervisor(
        name="root",
        children=[Child(name="db", target=_forever), pool],
    )
    async with open_tree(spec, loop_block_threshold=None) as tree:
        with pytest.raises(ChildLookupError) as lookup:
            await tree.terminate_child("root/nope")
        assert lookup.value.path == "root/nope"

        with pytest.raises(ChildExists) as exists:
            await tree.start_child("root", Child(name="db", target=_forever))
        assert exists.value.path == "root/db"
        assert str(exists.value) == "root/db: a child with that name already exists"

        with pytest.raises(ChildRunning) as running:
            await tree.delete_child("root/db")
        assert running.value.path == "root/db"

        await tree.start_child("root/pool")
        with pytest.raises(TooManyChildren) as full:
            await tree.start_child("root/pool")
        assert (full.value.path, full.value.limit) == ("root/pool", 1)

        with pytest.raises(NotSupported) as root:
            await tree.restart_child("root")
        assert root.value.path == "root"
        with pytest.raises(NotSupported) as worker:
            tree.which_children("root/db")
        assert worker.value.path == "root/db"
        with pytest.raises(NotSupported) as hang:
            testing.hang(tree, "root/db")  # no heartbeat_timeout
        assert hang.value.path == "root/db"

        await tree.terminate_child("root/pool")
        with pytest.raises(TreeNotRunning) as stopped:
            tree.which_children("root/pool")
        assert stopped.value.path == "root/pool"
        with pytest.raises(ChildRunning) as crash:
            testing.crash(tree, "root/pool")  # terminated: nothing runs
        assert crash.value.path == "root/pool"

        tree.request_stop()
        with pytest.raises(TreeNotRunning) as stopping:
            tree.which_children("root")
        assert stopping.value.path == "root"
        for error in (lookup, exists, running, full, root, stopped, stopping):
            assert isinstance(error.value, ControlError)


def test_spec_errors_stay_apart_and_name_their_field() -> None:
    with pytest.raises(SpecError) as bad:
        Child(name="x", target=_forever, shutdown=-1)
    assert not isinstance(bad.value, ControlError)
    assert (bad.value.path, bad.value.field) == ("x", "shutdown")
