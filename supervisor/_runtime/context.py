"""Calls a supervised child makes about itself."""

from __future__ import annotations

import trio

from .._errors import NotInChild, NotSupported
from .slot import CURRENT


def stop_requested() -> trio.Event:
    """
    The event a child with ``graceful_stop=True`` watches to learn it should stop.

    Once it is set, the child has its *shutdown* seconds to return on its own
    before it is cancelled (like OTP's ``trap_exit``)::

        async def consumer():
            stopping = supervisor.stop_requested()
            while not stopping.is_set():
                await handle(await queue.get())

    Raises:
        NotInChild: Called outside a supervised child, or from a task that
            outlived the incarnation it was spawned by.
        NotSupported: The child did not opt in with ``graceful_stop=True``.
    """
    inc = CURRENT.get(None)
    if inc is None:
        raise NotInChild(
            "stop_requested() must be called from inside a supervised child"
        )
    if inc.ended:
        raise NotInChild(
            f"stop_requested() from a task that outlived its child: "
            f"{inc.slot.path}'s incarnation has ended"
        )
    if inc.stop_event is None:
        raise NotSupported(
            inc.slot.path,
            "stop_requested() needs Child(graceful_stop=True); "
            "without it a stop cancels the child at once",
        )
    return inc.stop_event
