"""
The one fault-injection seam: crash or hang a running child of a tree.

Private: `supervisor.testing` is its only caller (its ``crash`` and ``hang``),
so that the public test kit reaches no other internal of `Tree` or its nodes,
and `Node` has no test-only method. A hang needs no state of its own: the
incarnation is given a beat clock that stands still. A crash cancels the
incarnation with its exception as the cancellation's cause
(``Incarnation.error``), which the exit path reports as that crash.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from .._errors import ChildRunning, NotSupported

if TYPE_CHECKING:
    from .tree import Tree


def crash(tree: Tree, path: str, exc: Exception) -> None:
    """
    Cancel the running child at *path*, to be handled as if it had raised *exc*.

    Raises:
        ChildLookupError: No child at *path*.
        ChildRunning: The child is not running.
    """
    _, slot = tree._child(path)
    inc = slot.current
    if inc is None:
        raise ChildRunning(slot.path, "is not running; nothing to crash")
    inc.error = exc
    inc.scope.cancel()


def hang(tree: Tree, path: str) -> None:
    """
    Ignore the beats of the running child at *path* from now on: they store
    the time of its last beat before this call, again and again.

    Raises:
        ChildLookupError: No child at *path*.
        ChildRunning: The child is not running.
        NotSupported: The child has no *heartbeat_timeout*.
    """
    _, slot = tree._child(path)
    inc = slot.current
    if inc is None or not inc.running:
        raise ChildRunning(slot.path, "is not running; nothing to hang")
    if slot.heartbeat_timeout is None:
        raise NotSupported(
            slot.path, "has no heartbeat_timeout; a hang would go unnoticed"
        )
    # Hung already: the clock stands still at the first hang's beat.
    inc.clock = itertools.repeat(inc.at).__next__
