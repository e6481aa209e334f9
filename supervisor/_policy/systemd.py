"""
The tree under systemd, as data: what the environment systemd gave the tree
means (`settings`), and the one-line ``STATUS=`` summary of the tree
(`summary`). Pure: the environment and the counts are passed in.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .states import State


@attrs.frozen
class SystemdSettings:
    """Where to notify, and how often to send ``WATCHDOG=1`` (None: not asked)."""

    address: str  # for socket.sendto: a path, or "\0name" for an abstract socket
    watchdog_interval: float | None  # half of WATCHDOG_USEC, in seconds


def settings(environ: Mapping[str, str], pid: int) -> SystemdSettings | None:
    """
    What systemd asks of the process *pid*, from *environ*; None when it was
    not started by a service manager that listens (no usable NOTIFY_SOCKET).

    As ``sd_watchdog_enabled(3)``: ``WATCHDOG_USEC`` counts only if
    ``WATCHDOG_PID`` is unset or is *pid*; a beat goes out every half of it.
    """
    socket = environ.get("NOTIFY_SOCKET", "")
    if socket.startswith("@"):
        address = "\0" + socket[1:]
    elif socket.startswith("/"):
        address = socket
    else:
        return None  # unset, or a vsock address this library does not speak
    interval = None
    usec = environ.get("WATCHDOG_USEC", "")
    watchdog_pid = environ.get("WATCHDOG_PID", "")
    if usec.isdigit() and int(usec) > 0 and watchdog_pid in ("", str(pid)):
        interval = int(usec) / 2_000_000
    return SystemdSettings(address, interval)


def summary(states: Mapping[State, int], crashes: int) -> str:
    """``STATUS=`` text: ``5/6 children running, 1 backoff; 3 crashes``."""
    total = sum(states.values())
    running = states.get(State.RUNNING, 0)
    parts = [f"{running}/{total} children running"]
    for state in (
        State.STARTING,
        State.BACKOFF,
        State.STOPPING,
        State.UNSTOPPED,
        State.FAILED,
    ):
        count = states.get(state, 0)
        if count:
            parts.append(f"{count} {state.value}")
    line = ", ".join(parts)
    if crashes:
        line += f"; {crashes} crash{'es' if crashes != 1 else ''}"
    return line
