"""
The service protocol: how a surface (the HTTP server, the checks, later etcd
or systemd) plugs into a tree without the core knowing it.

A service contributes children to the tree's ``_system`` supervisor (up
before the user's root starts, down after it stopped, restarted with backoff
forever: nothing in the machinery may stop the user's tree) and reads the tree
through its observer (`Tree.observer`) and the `Tree`'s public calls. Work that
must happen before any child starts, and be undone after the run (binding a
listener, so that a taken port fails the run at once), goes in `opened`;
work that must happen when the tree begins to stop, before any of the user's
children stops (leaving a service registry, so that nobody is sent to a
stopping instance), goes in `before_stop`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Protocol, TypeVar

import trio

from .._checks import Check, CheckState
from .._spec import Child
from .checks import run_check
from .observe import TreeObserver

# The tree's type, a parameter so that this module need not import it (the
# core imports this module; a service module may import the Tree).
TreeT_contra = TypeVar("TreeT_contra", contravariant=True)


class Service(Protocol[TreeT_contra]):
    """
    What the tree runs beside the user's children. Only `children` is required;
    subclass this protocol to inherit the defaults of the others.
    """

    def children(self, tree: TreeT_contra) -> Sequence[Child]:
        """The children this service runs under ``_system`` (called once per tree)."""
        ...

    def opened(self, tree: TreeT_contra) -> AbstractAsyncContextManager[object]:
        """
        Entered before any child starts and left once the run ended; an error
        raised entering it fails the run at once, bare (`HttpBindError`).
        """
        return nullcontext()

    def check_states(self) -> Sequence[CheckState]:
        """Check results this service feeds to the verdicts (see `TreeObserver`)."""
        return ()

    async def before_stop(self) -> None:
        """
        Awaited when the user's root begins to stop, before it stops any child
        (in its control task: bound the wait yourself, and never raise).
        """
        return


class _Observed(Protocol):
    """What the check runners need of the tree: its observer, to invalidate."""

    @property
    def observer(self) -> TreeObserver: ...


class CheckRunners(Service[_Observed]):
    """The checks as a service: one runner per check, ``_system/check:NAME``."""

    def __init__(self, checks: Sequence[Check]) -> None:
        self._states = [CheckState(check=c) for c in checks]

    def check_states(self) -> Sequence[CheckState]:
        return self._states

    def children(self, tree: _Observed) -> Sequence[Child]:
        # A result that changes a verdict bumps the version: cached documents
        # are stale.
        return [
            Child(
                name=f"check:{state.check.name}",
                target=functools.partial(
                    run_check, state, trio.current_time, tree.observer.invalidate
                ),
            )
            for state in self._states
        ]
