"""
What a supervisor does when an incarnation of one of its children ends: OTP's
``do_restart`` and ``restart/2`` in one pure function, `decide_exit`.

Plain values in, a decision out; nothing here may import trio, read a clock or
start a thread. The caller (the runtime's ``Node.on_exit``) applies the
decision and decides nothing itself.

A decision is a ``(kind, delay)`` tuple: *kind* is one of the int constants
below and *delay* the backoff before a restart (0.0 for every other kind).
The kinds without a delay are preallocated tuples, and restarts build one
plain tuple: the restart path is the hot path, and a NamedTuple or attrs
instance per exit would cost several times as much.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, TypeAlias

from .._spec import AutoShutdown, Restart, Strategy
from .states import Reason

if TYPE_CHECKING:
    from .backoff import BackoffSchedule
    from .intensity import RestartWindow

# It ended while it, or its supervisor, was being stopped: not restarted.
# These three come first: ``kind <= STOPPED_RETURNED`` tests for any of them.
STOPPED: Final = 0  # stopped on purpose (its exit reads ``shutdown``)
STOPPED_CRASHED: Final = 1  # it crashed or timed out meanwhile: keep the evidence
STOPPED_RETURNED: Final = 2  # it returned before the stop reached it
# It ended by itself and its restart type says it stays down.
ENDED: Final = 3
ENDED_AUTO_SHUTDOWN: Final = 4  # ... and the supervisor shuts itself down (OTP 24)
# It is to be restarted, but the supervisor has exceeded its intensity.
ESCALATE: Final = 5
# Restart it after *delay*: alone, or with the siblings its strategy sweeps.
RESTART_ALONE: Final = 6
SWEEP: Final = 7

NAMES: Final = (
    "stopped",
    "stopped_crashed",
    "stopped_returned",
    "ended",
    "ended_auto_shutdown",
    "escalate",
    "restart_alone",
    "sweep",
)

Decision: TypeAlias = tuple[int, float]

# Enum members bound once: on Python 3.11 each `Reason.NORMAL` costs a
# class-attribute lookup (~0.08 us), and the restart path would make five.
_NORMAL, _SHUTDOWN = Reason.NORMAL, Reason.SHUTDOWN
_PERMANENT, _TRANSIENT = Restart.PERMANENT, Restart.TRANSIENT
_NEVER, _ALL_SIGNIFICANT = AutoShutdown.NEVER, AutoShutdown.ALL_SIGNIFICANT
_ONE_FOR_ONE = Strategy.ONE_FOR_ONE

_STOPPED: Final[Decision] = (STOPPED, 0.0)
_STOPPED_CRASHED: Final[Decision] = (STOPPED_CRASHED, 0.0)
_STOPPED_RETURNED: Final[Decision] = (STOPPED_RETURNED, 0.0)
_ENDED: Final[Decision] = (ENDED, 0.0)
_ENDED_AUTO_SHUTDOWN: Final[Decision] = (ENDED_AUTO_SHUTDOWN, 0.0)
_ESCALATE: Final[Decision] = (ESCALATE, 0.0)


def should_restart(restart: Restart, *, abnormal: bool) -> bool:
    """Does an exit lead to a restart? TRANSIENT only after an abnormal one."""
    return restart is _PERMANENT or (restart is _TRANSIENT and abnormal)


def decide_exit(  # noqa: PLR0911 - one return per outcome, as in OTP
    reason: Reason | None,
    now: float,
    ran_for: float | None,
    *,
    was_running: bool,
    stop_reached: bool,
    stopping: bool,
    closing: bool,
    restart: Restart,
    significant: bool,
    auto_shutdown: AutoShutdown,
    significant_alive: bool,
    strategy: Strategy,
    escalates: bool,
    ever_started: bool,
    window: RestartWindow,
    schedule: BackoffSchedule,
) -> Decision:
    """
    Decide what follows the end of one incarnation.

    *reason* is why it ended, None if it did not end by itself (cancelled from
    outside the tree, or a KeyboardInterrupt aborting it). *now* is the exit's
    time, *ran_for* how long it ran if it had counted as started (a stable run
    resets *schedule*, however it ended). *was_running*: it had started (a
    failed start is retried alone). *stop_reached*: a stop (cancel or
    graceful request) was delivered to it; *stopping*: its supervisor is
    stopping it; *closing*: the supervisor itself is stopping.

    *significant_alive*: another significant sibling still runs or is about
    to start (consulted for AutoShutdown.ALL_SIGNIFICANT only). *escalates*:
    False for the tree's own system node, which gives up only on a part that
    never came up (*ever_started* False) and otherwise retries forever.

    Records the restart in *window* and takes the delay from *schedule*,
    which are the supervisor's (pure) policy state.
    """
    if ran_for is not None:
        schedule.note_run(ran_for)
    if reason is None or stopping or closing:
        if reason is None or reason is _SHUTDOWN:
            return _STOPPED
        if reason is not _NORMAL:
            return _STOPPED_CRASHED
        # Only a child the supervisor stopped ends with ``shutdown`` (OTP).
        return _STOPPED if stop_reached else _STOPPED_RETURNED
    # should_restart, inlined (the hot path): a call would cost more than it.
    if not (
        restart is _PERMANENT
        or (restart is _TRANSIENT and reason is not _NORMAL and reason is not _SHUTDOWN)
    ):
        if not significant or auto_shutdown is _NEVER:
            return _ENDED
        if auto_shutdown is _ALL_SIGNIFICANT and significant_alive:
            return _ENDED
        return _ENDED_AUTO_SHUTDOWN
    if not window.admit(now) if escalates else not ever_started:
        return _ESCALATE
    if strategy is _ONE_FOR_ONE or not was_running:
        # A failed start is retried alone: its later siblings have not
        # started yet, and the earlier ones are its dependencies, up and well.
        return (RESTART_ALONE, schedule.next_delay())
    return (SWEEP, schedule.next_delay())
