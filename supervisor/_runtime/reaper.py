"""
PID 1's duty: reap the orphans the kernel hands to the tree when it runs as
a container's init (or as a child subreaper), without stealing trio's own
children.

A process whose parent exits is re-parented to PID 1; once it exits, it stays
a zombie until PID 1 waits for it. A tree run as PID 1 (``docker run`` with
no ``--init``) would collect them for ever. `OrphanReaper`, a service, waits
for SIGCHLD and reaps every zombie child that is not one trio is waiting for.
It never calls ``wait(-1)``: that would take the exit status of a process
trio spawned (a `Process` child, a ``trio.run_process`` in a worker) from
under it. A zombie is trio's when it is a `Process` child the runner spawned
and still waits for (`process_groups.waited_pids`) or is in the tree's own
process group (``trio.run_process`` without a session of its own); anything
else is an orphan, reaped: a `Process` child's descendant (also one that
made a session of its own, ``setsid cmd &``), or a stranger's. What this
cannot tell apart: a ``trio.run_process(..., start_new_session=True)`` of
the user's own, which leads a session and is in no registry; run such
programs as `Process` children under PID 1.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from typing import Any

import trio

from .._log import get_logger
from .._spec import Child
from .process_groups import waited_pids
from .services import Service

LOG = get_logger("supervisor")
#: A sweep also runs this often, in case a SIGCHLD came while none was awaited.
SWEEP_EVERY = 5.0


class OrphanReaper(Service[Any]):
    """The service (see the module doc); `needed` says when a tree wants one."""

    def __init__(self) -> None:
        #: Orphans reaped so far.
        self.reaped = 0

    @staticmethod
    def needed() -> bool:
        """Whether this process is PID 1 (of its PID namespace): orphans come to it."""
        return os.getpid() == 1

    def children(self, tree: Any) -> Sequence[Child]:
        return [Child(name="reaper", target=self._run)]

    async def _run(self) -> None:
        with trio.open_signal_receiver(signal.SIGCHLD) as signals:
            while True:
                self.reap()
                with trio.move_on_after(SWEEP_EVERY):
                    await signals.__anext__()

    def reap(self) -> int:
        """Reap the orphans that are zombies now; how many there were."""
        import psutil  # noqa: PLC0415 - lazily: only PID 1 needs it here

        own_group = os.getpgid(0)
        # No checkpoint below: no PID joins or leaves it while this runs.
        trios = waited_pids()
        found = 0
        for child in psutil.Process().children():
            try:
                if child.status() != psutil.STATUS_ZOMBIE:
                    continue
                pid = child.pid
                if pid in trios or os.getpgid(pid) == own_group:
                    continue  # spawned by trio, which waits for it itself
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    found += 1
            except (OSError, psutil.Error):
                continue  # reaped or gone meanwhile
        if found:
            self.reaped += found
            log = LOG.bind(path="_system/reaper")
            log.debug("orphans_reaped", count=found, total=self.reaped)
        return found
