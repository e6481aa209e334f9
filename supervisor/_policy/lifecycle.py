"""
The life of one child as a table: state x event -> state.

The runtime moves ``slot.state`` only through `step`, so an impossible
transition (a launch of a child that runs, a start of a stopped one) is
noticed where it happens instead of showing up later as a wrong snapshot.

What an impossible transition does is the runtime's choice (see
``Node._lifecycle_violation``): under `STRICT` (the test suite sets it, also
through the ``SUPERVISOR_STRICT_LIFECYCLE=1`` environment variable for the
trees it runs in subprocesses) it raises `LifecycleError` at once; in
production it logs an error and moves to the event's target anyway, which is
what the code did before the table existed. A bookkeeping mistake must never
take the user's tree down: the supervisor is the part that has to stay up.

Pure: no trio, no clock, no I/O (the flag is read once from the environment).
"""

from __future__ import annotations

import os
from typing import Final

from .states import State

STRICT: bool = os.environ.get("SUPERVISOR_STRICT_LIFECYCLE") == "1"


class LifecycleError(RuntimeError):
    """An impossible state transition of a child: a bug in the supervisor."""


# Events, as ints (they index `NEXT`).
LAUNCH: Final = 0  # an incarnation is launched without delay
BACKOFF_WAIT: Final = 1  # an incarnation is launched to wait its backoff first
RELAUNCH: Final = 2  # the incarnation that just ended is replaced at once
RELAUNCH_LATER: Final = 3  # ... after a backoff delay
CALLED: Final = 4  # the target (that reports its start) is called
STARTED: Final = 5  # it counts as started
STOP_REQUESTED: Final = 6  # its supervisor stops it
CANCEL_OVERDUE: Final = 7  # the watchdog cancels it (start or heartbeat timeout)
STOP_OVERDUE: Final = 8  # it outlived its shutdown bound
EXIT_STOPPED: Final = 9  # it ended and stays down, normally or stopped on purpose
EXIT_FAILED: Final = 10  # it ended abnormally and stays down (or escalated)
EXIT_SWEPT: Final = 11  # it ended and waits for its sweep to restart it
DEQUEUED: Final = 12  # a queued start of a child that does not run will not come
STANDBY_WAIT: Final = 13  # a fleet singleton waits for its election (or lost it)
ELECTED: Final = 14  # ... won it: its code is started

EVENT_NAMES: Final = (
    "launch",
    "backoff_wait",
    "relaunch",
    "relaunch_later",
    "called",
    "started",
    "stop_requested",
    "cancel_overdue",
    "stop_overdue",
    "exit_stopped",
    "exit_failed",
    "exit_swept",
    "dequeued",
    "standby_wait",
    "elected",
)

STARTING, RUNNING, BACKOFF = State.STARTING, State.RUNNING, State.BACKOFF
STOPPING, STOPPED, FAILED = State.STOPPING, State.STOPPED, State.FAILED
UNSTOPPED, STANDBY = State.UNSTOPPED, State.STANDBY

# States with an incarnation (something that can end), and without one.
LIVE: Final = (STARTING, RUNNING, BACKOFF, STOPPING, UNSTOPPED, STANDBY)
DOWN: Final = (STOPPED, FAILED)

# event -> (the states it may happen in, the state it leads to).
TABLE: Final[dict[int, tuple[tuple[State, ...], State]]] = {
    LAUNCH: ((*DOWN, BACKOFF), STARTING),
    BACKOFF_WAIT: ((*DOWN, BACKOFF), BACKOFF),
    # The exit and the next launch are one step: no state in between.
    RELAUNCH: (LIVE, STARTING),
    RELAUNCH_LATER: (LIVE, BACKOFF),
    CALLED: ((BACKOFF, STARTING), STARTING),
    # A plain target counts as started when called, also after a backoff.
    STARTED: ((BACKOFF, STARTING), RUNNING),
    STOP_REQUESTED: ((STARTING, RUNNING, BACKOFF, STOPPING, STANDBY), STOPPING),
    CANCEL_OVERDUE: ((STARTING, RUNNING), STOPPING),
    STOP_OVERDUE: ((STOPPING,), UNSTOPPED),
    EXIT_STOPPED: (LIVE, STOPPED),
    EXIT_FAILED: (LIVE, FAILED),
    EXIT_SWEPT: (LIVE, BACKOFF),
    # A queued child dropped before its launch. FAILED too: a queued child
    # whose failed start made its supervisor give up is then shown stopped.
    DEQUEUED: ((*DOWN, BACKOFF), STOPPED),
    # A fleet singleton (`_singleton`): it waits for its election once launched
    # (after its backoff, if any), and again when its term ends while it runs.
    STANDBY_WAIT: ((STARTING, BACKOFF, RUNNING), STANDBY),
    ELECTED: ((STANDBY,), STARTING),
}

# Transitions that keep the state and need no table entry of their own:
# a stop requested again once the child outlived its bound leaves it unstopped.
_STAYS: Final = {(UNSTOPPED, STOP_REQUESTED)}

# event -> {state: next state}: what `step` (and Slot.move, inlined) looks up.
NEXT: Final[tuple[dict[State, State], ...]] = tuple(
    {
        **dict.fromkeys(TABLE[event][0], TABLE[event][1]),
        **{s: s for s, e in _STAYS if e == event},
    }
    for event in range(len(EVENT_NAMES))
)


def step(state: State, event: int) -> State | None:
    """The state *event* leads to from *state*; None if it cannot happen there."""
    return NEXT[event].get(state)


def target(event: int) -> State:
    """The state *event* leads to (from any state it may happen in)."""
    return TABLE[event][1]


def describe(state: State, event: int) -> str:
    return f"{EVENT_NAMES[event]!r} cannot happen to a child in state {state.value!r}"


def mermaid() -> str:
    """The state diagram of `TABLE`, as a Mermaid block (docs/principles.md)."""
    lines = ["```mermaid", "stateDiagram-v2", "    [*] --> stopped"]
    for event, (sources, to) in TABLE.items():
        lines.extend(
            f"    {source.value} --> {to.value}: {EVENT_NAMES[event]}"
            for source in sources
        )
    lines.extend(
        f"    {state.value} --> {state.value}: {EVENT_NAMES[event]}"
        for state, event in sorted(_STAYS)
    )
    lines.append("```")
    return "\n".join(lines)
