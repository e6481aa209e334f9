"""
The lifecycle table (`supervisor._policy.lifecycle`): which state changes a
child can go through. No trio: states and events in, a state (or None) out.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from supervisor._policy import lifecycle
from supervisor._policy.lifecycle import (
    BACKOFF_WAIT,
    CALLED,
    CANCEL_OVERDUE,
    DEQUEUED,
    ELECTED,
    EVENT_NAMES,
    EXIT_FAILED,
    EXIT_STOPPED,
    EXIT_SWEPT,
    LAUNCH,
    RELAUNCH,
    RELAUNCH_LATER,
    STANDBY_WAIT,
    STARTED,
    STOP_OVERDUE,
    STOP_REQUESTED,
    step,
)
from supervisor._policy.states import State

STARTING, RUNNING, BACKOFF = State.STARTING, State.RUNNING, State.BACKOFF
STOPPING, STOPPED, FAILED = State.STOPPING, State.STOPPED, State.FAILED
UNSTOPPED, STANDBY = State.UNSTOPPED, State.STANDBY
LIVE = (STARTING, RUNNING, BACKOFF, STOPPING, UNSTOPPED, STANDBY)

# Every possible transition, written out: (state, event) -> state. Any pair
# not listed is impossible.
EXPECTED = {
    # Launches: of a child that has no incarnation (never started, stopped,
    # failed, or waiting in the queue after its sweep).
    (STOPPED, LAUNCH): STARTING,
    (FAILED, LAUNCH): STARTING,
    (BACKOFF, LAUNCH): STARTING,
    (STOPPED, BACKOFF_WAIT): BACKOFF,
    (FAILED, BACKOFF_WAIT): BACKOFF,
    (BACKOFF, BACKOFF_WAIT): BACKOFF,
    # The incarnation that ended is replaced in the same step (one-for-one).
    **{(s, RELAUNCH): STARTING for s in LIVE},
    **{(s, RELAUNCH_LATER): BACKOFF for s in LIVE},
    (BACKOFF, CALLED): STARTING,
    (STARTING, CALLED): STARTING,
    (BACKOFF, STARTED): RUNNING,  # a plain target, once its backoff is over
    (STARTING, STARTED): RUNNING,
    (STARTING, STOP_REQUESTED): STOPPING,
    (RUNNING, STOP_REQUESTED): STOPPING,
    (BACKOFF, STOP_REQUESTED): STOPPING,
    (STOPPING, STOP_REQUESTED): STOPPING,  # the watchdog cancelled it first
    (UNSTOPPED, STOP_REQUESTED): UNSTOPPED,  # past its bound already
    (STARTING, CANCEL_OVERDUE): STOPPING,  # start timeout
    (RUNNING, CANCEL_OVERDUE): STOPPING,  # heartbeat timeout
    (STOPPING, STOP_OVERDUE): UNSTOPPED,
    **{(s, EXIT_STOPPED): STOPPED for s in LIVE},
    **{(s, EXIT_FAILED): FAILED for s in LIVE},
    **{(s, EXIT_SWEPT): BACKOFF for s in LIVE},
    (STOPPED, DEQUEUED): STOPPED,
    (FAILED, DEQUEUED): STOPPED,
    (BACKOFF, DEQUEUED): STOPPED,
    # Fleet singletons: standby until elected, and again when the term ends.
    (STARTING, STANDBY_WAIT): STANDBY,
    (BACKOFF, STANDBY_WAIT): STANDBY,
    (RUNNING, STANDBY_WAIT): STANDBY,
    (STANDBY, ELECTED): STARTING,
    (STANDBY, STOP_REQUESTED): STOPPING,
}

ALL_PAIRS = list(itertools.product(State, range(len(EVENT_NAMES))))


@pytest.mark.parametrize(("state", "event"), ALL_PAIRS)
def test_every_pair_of_state_and_event(state: State, event: int) -> None:
    assert step(state, event) == EXPECTED.get((state, event))


IMPOSSIBLE = [
    # A second incarnation of a child that has one.
    (RUNNING, LAUNCH),
    (STARTING, LAUNCH),
    (STOPPING, BACKOFF_WAIT),
    (UNSTOPPED, LAUNCH),
    # A relaunch is the end of an incarnation: a stopped child has none.
    (STOPPED, RELAUNCH),
    (FAILED, RELAUNCH_LATER),
    # Started twice, or after its stop began, or without an incarnation.
    (RUNNING, STARTED),
    (STOPPING, STARTED),
    (STOPPED, STARTED),
    # Stops and timeouts of a child that does not run.
    (STOPPED, STOP_REQUESTED),
    (FAILED, STOP_REQUESTED),
    (BACKOFF, CANCEL_OVERDUE),
    (RUNNING, STOP_OVERDUE),
    # An exit needs an incarnation.
    (STOPPED, EXIT_STOPPED),
    (FAILED, EXIT_FAILED),
    # A running child is not dropped from the queue as if it never started.
    (RUNNING, DEQUEUED),
]


@pytest.mark.parametrize(("state", "event"), IMPOSSIBLE)
def test_impossible_transitions(state: State, event: int) -> None:
    assert step(state, event) is None


def test_every_state_is_reachable_from_a_fresh_child() -> None:
    seen, frontier = {STOPPED}, [STOPPED]
    while frontier:
        state = frontier.pop()
        for event in range(len(EVENT_NAMES)):
            nxt = step(state, event)
            if nxt is not None and nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)

    assert seen == set(State)


def test_every_event_leads_to_one_state() -> None:
    for event in range(len(EVENT_NAMES)):
        targets = {step(s, event) for s in State} - {None}
        if event == STOP_REQUESTED:
            assert targets == {STOPPING, UNSTOPPED}
        else:
            assert targets == {lifecycle.target(event)}, EVENT_NAMES[event]


def test_the_message_names_the_event_and_the_state() -> None:
    assert lifecycle.describe(RUNNING, LAUNCH) == (
        "'launch' cannot happen to a child in state 'running'"
    )


def test_the_test_suite_runs_strict() -> None:
    # conftest.py sets it: an impossible transition fails the test at once.
    assert lifecycle.STRICT is True


# ---- the diagram in the docs is the table ---------------------------------------

_DIAGRAM = re.compile(r"```mermaid\nstateDiagram-v2\n.*?```", re.DOTALL)


def test_the_state_diagram_in_the_docs_is_generated_from_the_table() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "principles.md"
    blocks = _DIAGRAM.findall(doc.read_text())

    assert blocks == [lifecycle.mermaid()], (
        "regenerate the diagram in docs/principles.md with "
        "python -c 'from supervisor._policy import lifecycle; "
        "print(lifecycle.mermaid())'"
    )


def test_the_diagram_has_one_edge_per_transition() -> None:
    edges = [line for line in lifecycle.mermaid().splitlines() if ": " in line]

    assert len(edges) == len(EXPECTED)
    for (state, event), to in EXPECTED.items():
        assert f"    {state.value} --> {to.value}: {EVENT_NAMES[event]}" in edges
