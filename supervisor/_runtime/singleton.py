"""
Fleet singletons, the runtime's side: a child with ``singleton=True`` runs only
while this instance holds its election; otherwise it waits in state
``standby``.

The seam is one runner (`runners.SingletonRunner`) that wraps the child kind's own
runner (task, supervisor, and any later kind: it reads only ``spec.singleton``)
and one protocol (`Coordinator`) that an integration provides:

* ``leadership(path)`` is an async context manager entered once this instance
  leads the election for *path* (it waits until then) and giving a `Term`: the
  election's revision (the fencing token) and a cancel scope the coordinator
  cancels when leadership must end (etcd unreachable for too long, the lease
  gone, the instance unready or stopping). Leaving it resigns.
* the runner waits in ``standby`` (which counts as started for the start queue
  and never against readiness), runs the wrapped runner inside the term's
  scope, and when the scope is cancelled goes back to ``standby`` in the same
  incarnation: losing leadership is not a crash and is not counted against
  intensity.

The coordinator of a run is found in a context variable the integration sets
around the run (`serving`, from its service's ``opened``): every task of the
tree inherits it, and nothing outlives the run. The core names no integration.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from contextvars import ContextVar
from typing import Protocol

import attrs
import trio

from .._errors import SupervisorError


class NoCoordinator(SupervisorError):
    """A spec has singleton children but the run has no fleet coordinator."""

    def __init__(self, paths: tuple[str, ...]) -> None:
        #: The tree paths of the singleton specs.
        self.paths = paths
        super().__init__(
            f"{', '.join(paths)}: singleton=True needs a fleet coordinator; "
            "run with etcd=EtcdOptions(...) (CLI: --etcd URL --service NAME)"
        )


class NoFencingToken(SupervisorError, RuntimeError):
    """`fencing_token` was called outside a running fleet singleton."""


@attrs.define(eq=False)
class Term:
    """One term of leadership: its fencing token, and the scope that ends it."""

    token: int
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)


class Coordinator(Protocol):
    """What an integration provides for singletons (see the module doc)."""

    def leadership(self, path: str) -> AbstractAsyncContextManager[Term]: ...


COORDINATOR: ContextVar[Coordinator | None] = ContextVar(
    "supervisor_coordinator", default=None
)
_TOKEN: ContextVar[int | None] = ContextVar("supervisor_fencing_token", default=None)


@contextmanager
def serving(coordinator: Coordinator) -> Iterator[None]:
    """Make *coordinator* the one the tree's singletons use, for the block."""
    reset = COORDINATOR.set(coordinator)
    try:
        yield
    finally:
        COORDINATOR.reset(reset)


@contextmanager
def fenced(token: int) -> Iterator[None]:
    """`fencing_token` answers *token* in the block (and the tasks it starts)."""
    reset = _TOKEN.set(token)
    try:
        yield
    finally:
        _TOKEN.reset(reset)


def fencing_token() -> int:
    """
    The running singleton's term: the revision of its election in etcd, which
    grows with every new holder. Send it with writes elsewhere and have the
    other side refuse a token lower than the last it saw: a holder that lost
    its term (a partition) cannot overwrite its successor's writes.

    Raises:
        NoFencingToken: Not called from a fleet singleton that holds its election.
    """
    token = _TOKEN.get()
    if token is None:
        raise NoFencingToken(
            "fencing_token() is only known inside a running singleton=True child"
        )
    return token
