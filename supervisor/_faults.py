"""
The one fault-injection seam: crash or hang a running child of a tree.

Private: `supervisor.testing` is its only caller (its ``crash`` and ``hang``),
so that the public test kit reaches no other internal of `Tree` or its nodes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._tree import Tree


def crash(tree: Tree, path: str, exc: Exception) -> None:
    """
    Cancel the running child at *path*, to be handled as if it had raised *exc*.

    Raises:
        ChildLookupError: No child at *path*.
        ChildRunning: The child is not running.
    """
    node, slot = tree._child(path)
    node.inject(slot, exc)


def hang(tree: Tree, path: str) -> None:
    """
    Ignore the beats of the running child at *path* from now on.

    Raises:
        ChildLookupError: No child at *path*.
        ChildRunning: The child is not running.
        NotSupported: The child has no *heartbeat_timeout*.
    """
    node, slot = tree._child(path)
    node.freeze_heartbeat(slot)
