"""
A child of a supervisor node across its incarnations (`Slot`), each run of it
(`Incarnation`), and the ``task_status`` a child gets. Plain state; the node
drives it.

A slot and its incarnation refer to each other (``slot.current``,
``inc.slot``), so they share this module: two modules would import each other.

An *incarnation* is one run of a child: from its launch (its backoff wait
included) to its exit. A child between runs has none (``slot.current is None``).

Everything that belongs to one run lives here and goes with it: its cancel
scope, the stop delivered to it, its watchdog timers, the beat its code
stores. Whatever still holds an incarnation that ended (a watchdog timer, a
task it left behind) tells by identity that it is stale:
``inc.slot.current is not inc``; nothing is reset field by field.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import trio

from .._errors import NotInChild
from .._log import get_logger
from .._policy import lifecycle
from .._policy.backoff import BackoffSchedule
from .._policy.lifecycle import NEXT
from .._snapshot import ExitInfo, NodeSnapshot, State
from .._spec import (
    Backoff,
    NodeSpec,
    SupervisorSpec,
)
from .runners import Runner, Traits, traits

if TYPE_CHECKING:
    from .._policy.states import Reason
    from .process import ProcessRecord
    from .watchdog import Timer

LOG = get_logger("supervisor")


class StartedHandle(Protocol):
    """What a node's run() is told to call once all its children have started."""

    def started(self) -> None: ...


class Supervising(Protocol):
    """The running node of a supervisor child, as its slot sees it (`Node`)."""

    @property
    def slots(self) -> dict[str, Slot]: ...


class StartListener(Protocol):
    """What a `TaskStatus` tells that its child started (`Node.on_started`)."""

    def on_started(self, inc: Incarnation) -> None: ...


class Incarnation:
    """
    One run of a child, as the supervisor and the child's own code see it.

    *at* is the time of the last beat on the *raw* beat clock (see
    `_heartbeat.beat_clock`); the watchdog adds the clock's offset when it
    compares. `heartbeat()` stores it and nothing else.
    """

    __slots__ = (
        "at",
        "beat_timer",
        "cancel_reason",
        "clock",
        "done",
        "error",
        "handle",
        "next_start_at",
        "running",
        "scope",
        "slot",
        "start_timer",
        "stop_event",
        "stop_timer",
        "stopping",
    )

    def __init__(
        self,
        slot: Slot,
        clock: Callable[[], float],
        stop_event: trio.Event | None,
        next_start_at: float | None,
        scope: trio.CancelScope | None = None,
    ) -> None:
        self.slot = slot
        self.clock = clock
        self.at = 0.0
        # Shared with the incarnation before it when that one ended without
        # its scope being cancelled (a crash never cancels it): the next run
        # goes on in the same task, inside the same scope (`NodeStarts`).
        self.scope = trio.CancelScope() if scope is None else scope
        # Graceful-stop children only: set when the supervisor asks it to return.
        self.stop_event = stop_event
        # When its backoff wait ends; None once its code is called.
        self.next_start_at = next_start_at
        # Counted as started.
        self.running = False
        # Its supervisor is stopping it: its end is not a crash.
        self.stopping = False
        # Made once a stop is delivered to it; set when it ended.
        self.done: trio.Event | None = None
        # Why the supervisor (or its watchdog) cancelled it, if it did.
        self.cancel_reason: Reason | None = None
        # The exception its cancellation stands for (`supervisor.testing.crash`):
        # unless it is being stopped, it ends as if it had raised it.
        self.error: Exception | None = None
        # What its runner holds for this run (a `Process` child's process).
        self.handle: object | None = None
        # Pending watchdog timers (their target is this incarnation).
        self.start_timer: Timer | None = None
        self.beat_timer: Timer | None = None
        self.stop_timer: Timer | None = None

    def cancel(self, reason: Reason) -> None:
        """Cancel it for *reason*; the first reason stays. An ended one: nothing."""
        if self.slot.current is not self:
            return  # its scope may be its successor's now
        if self.cancel_reason is None:
            # A stop of a child the watchdog already cancelled does not turn
            # its heartbeat_timeout into a shutdown.
            self.cancel_reason = reason
        self.scope.cancel()

    def end(self) -> None:
        """
        It ended. A task that outlived it (spawned into a nursery outside the
        child, it still carries the child's context) gets `NotInChild` from
        its next beat: the clock it reads now raises, so the beat itself stays
        one call and one store.
        """
        self.clock = functools.partial(_outlived, self.slot.path)

    @property
    def ended(self) -> bool:
        return self.slot.current is not self


def _outlived(path: str) -> float:
    raise NotInChild(
        f"heartbeat() from a task that outlived its child: {path}'s incarnation "
        "has ended (a task spawned into a nursery outside the child keeps its "
        "context, not its life); beat only from the child and its own nurseries"
    )


# The incarnation whose code is running; trio copies context into the tasks a
# child spawns, so beats from its helper tasks land on the same incarnation.
CURRENT: ContextVar[Incarnation] = ContextVar("supervisor_current_child")


@attrs.define(eq=False)
class Slot:
    """One child of a node, across all its incarnations."""

    spec: NodeSpec
    path: str
    # Position in start order; stops go in reverse of it.
    index: int
    schedule: BackoffSchedule
    state: State = State.STOPPED
    # The running incarnation (from its launch to its exit); None between runs.
    current: Incarnation | None = None
    starts: int = 0
    # Restarts after a sibling's exit swept it, and by restart_child; those
    # after its own exit are `restarts`. See NodeSnapshot.
    sweep_restarts: int = 0
    manual_restarts: int = 0
    last_exit: ExitInfo | None = None
    # When it last counted as started (kept after it ended, for snapshots).
    started_at: float | None = None
    # Backoff delay of the next launch made by the start pipeline.
    pending_delay: float = 0.0
    # The running node of a supervisor child (kept after it ends, for snapshots).
    node: Supervising | None = None
    # Callers waiting for the current launch to settle (started or ended).
    waiters: list[trio.Event] = attrs.Factory(list)
    # Restarts after its own exit (those counted against intensity) by the
    # exit reason that caused them, and times this supervisor child gave up
    # (TooManyRestarts): only grow, for metrics.
    restarts_by_reason: dict[str, int] = attrs.Factory(dict)
    gave_up: int = 0
    # Incarnations cancelled for a missed heartbeat; only grows.
    missed_heartbeats: int = 0
    # A `Process` child's pid, exit, output lines and notify state, kept
    # across its incarnations (its runner keeps it); None for other kinds.
    process: ProcessRecord | None = None
    # What its kind of spec says (`_runners.KINDS`), read once; the runner, and
    # Child(graceful_stop=True) and Child.heartbeat_timeout, on every launch.
    traits: Traits = attrs.field(init=False)
    runner: Runner[Any] = attrs.field(init=False)
    graceful: bool = attrs.field(init=False)
    heartbeat_timeout: float | None = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        kind = self.traits = traits(self.spec)
        self.runner = kind.runner
        self.graceful = kind.graceful
        self.heartbeat_timeout = kind.heartbeat_timeout

    def move(self, event: int) -> None:
        """Change `state` as *event* says (`_policy.lifecycle`)."""
        state = NEXT[event].get(self.state)  # lifecycle.step, inlined
        self.state = state if state is not None else self._impossible(event)

    def _impossible(self, event: int) -> State:
        # A bug of ours, never the child's: tests fail at once; in production
        # it is logged and the tree goes on in the state the event leads to.
        problem = lifecycle.describe(self.state, event)
        if lifecycle.STRICT:
            raise lifecycle.LifecycleError(f"{self.path}: {problem}")
        LOG.error("lifecycle_violation", path=self.path, problem=problem)
        return lifecycle.target(event)

    @property
    def active(self) -> bool:
        """An incarnation exists: running, starting, stopping or in its backoff wait."""
        return self.current is not None

    @property
    def running(self) -> bool:
        """Its incarnation counts as started."""
        inc = self.current
        return inc is not None and inc.running

    @property
    def restarts(self) -> int:
        """Restarts after its own exit (counted against intensity)."""
        return sum(self.restarts_by_reason.values())

    def settle(self) -> None:
        waiters, self.waiters = self.waiters, []
        for event in waiters:
            event.set()

    def snapshot(self, now: float, beat_offset: float) -> NodeSnapshot:
        spec = self.spec
        children: tuple[NodeSnapshot, ...] = ()
        kind = self.traits
        strategy = None if kind.strategy is None else kind.strategy.value
        if self.node is not None:
            children = tuple(
                s.snapshot(now, beat_offset) for s in self.node.slots.values()
            )
        up = self.state is State.RUNNING and self.started_at is not None
        beat_age = None
        inc = self.current
        if self.heartbeat_timeout is not None and inc is not None and inc.running:
            beat_age = now - (inc.at + beat_offset)
        return NodeSnapshot(
            path=self.path,
            name=spec.name,
            kind=kind.kind,
            state=self.state,
            restart=spec.restart.value,
            significant=spec.significant,
            starts=self.starts,
            restarts=self.restarts,
            sweep_restarts=self.sweep_restarts,
            manual_restarts=self.manual_restarts,
            last_exit=self.last_exit,
            started_at=self.started_at,
            uptime=(now - self.started_at)
            if up and self.started_at is not None
            else None,
            next_start_at=None if inc is None else inc.next_start_at,
            heartbeat_timeout=self.heartbeat_timeout,
            heartbeat_age=beat_age,
            missed_heartbeats=self.missed_heartbeats,
            restarts_by_reason=tuple(sorted(self.restarts_by_reason.items())),
            intensity_exceeded=self.gave_up,
            strategy=strategy,
            children=children,
            process=None if self.process is None else self.process.snapshot(),
        )


def make_slot(
    spec: NodeSpec, path: str, index: int, backoff_owner: SupervisorSpec | None
) -> Slot:
    """A slot for *spec*; its backoff comes from the supervisor that owns it."""
    backoff = backoff_owner.backoff if backoff_owner is not None else Backoff()
    return Slot(
        spec=spec,
        path=path,
        index=index,
        schedule=BackoffSchedule(backoff),
    )


class TaskStatus:
    """
    The ``task_status`` a child receives: ``started()`` makes it count as started.

    It follows `trio.TaskStatus`'s protocol. The supervisor does not block in
    `trio.Nursery.start` while a child starts: a child that keeps failing to
    start waits in backoff while the supervisor goes on handling everything else.
    """

    __slots__ = ("_called", "_inc", "_node")

    def __init__(self, node: StartListener, inc: Incarnation) -> None:
        self._node = node
        self._inc = inc
        self._called = False

    def started(self, value: object = None) -> None:
        if self._called:
            raise RuntimeError("called 'started' twice on the same task status")
        self._called = True
        self._node.on_started(self._inc)
