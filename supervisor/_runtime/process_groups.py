"""
The process groups and PIDs of `Process` children that are live right now,
for the two places that must know them without a tree in hand:

* a forced exit of ``supervisor run`` (a second SIGINT, ``--stop-timeout``
  over) calls `kill_live_groups` before ``os._exit``: each child leads a
  session of its own, so nothing else would ever stop those groups (they
  would run on with PPID 1);
* the PID-1 reaper leaves alone the PIDs in `waited_pids`: trio waits for
  them itself, and a ``waitpid`` would steal their exit status.

A group is added at spawn and removed once it is cleared (no member left); a
PID is removed once trio's ``wait()`` for it returned. Both sets are
process-wide, as the process table is; every entry is removed by the run
that added it (in a ``finally``), so none outlives its tree.
"""

from __future__ import annotations

import os
import signal

_live_groups: set[int] = set()
_waited_pids: set[int] = set()


def spawned(pid: int) -> None:
    """*pid* was just spawned as a session (and group) leader that trio waits for."""
    _live_groups.add(pid)
    _waited_pids.add(pid)


def waited(pid: int) -> None:
    """trio reaped *pid*: from now on a zombie with that PID would be someone else's."""
    _waited_pids.discard(pid)


def cleared(pgid: int) -> None:
    """No process of group *pgid* is left (or its run ended): no forced exit needs it."""
    _live_groups.discard(pgid)
    _waited_pids.discard(pgid)


def waited_pids() -> frozenset[int]:
    return frozenset(_waited_pids)


def live_groups() -> frozenset[int]:
    return frozenset(_live_groups)


def kill_live_groups() -> int:
    """SIGKILL every live group (a forced exit); how many were still there."""
    killed = 0
    for pgid in sorted(_live_groups):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        except PermissionError:  # a member changed user: nothing more to do
            continue
        killed += 1
    return killed
