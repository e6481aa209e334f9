"""
A timed reference model of an OTP-style supervision tree, for tests/test_stateful.py.

It restates docs/principles.md as plainly as possible, with time: backoff
delays, slow starts and start timeouts, heartbeat timeouts, the ordered start
queue, sweeps, restart intensity, escalation from a child supervisor to its
parent, and the control calls. It knows nothing of the runtime's code; it is a
second, independent statement of the rules.

One `Model` is one supervisor; a child supervisor's model hangs off its
`MChild.sub` and is replaced by a fresh one each time that child starts. All
models of a tree share one `Clock` and one stop log.

Time is simulated: `next_event_at` says when the model expects the tree to act
by itself next (a backoff ending, a child finishing its start, a start or
heartbeat timeout), and `advance_to` carries the model to a time. A timeout
that falls on the same instant as another event has no single right outcome
(trio's scheduler picks the order), so the model refuses it (`Ambiguous`) and
the test discards that example; per-child offsets in the test's constants make
such ties rare.

Every constant is a dyadic fraction (0.25, 1.5, ...), so float sums are exact
and the tree's deadlines equal the model's to the bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from supervisor import Restart, State, Strategy

BACKOFF_INITIAL, BACKOFF_FACTOR, BACKOFF_MAX, RESET_AFTER = 1.0, 2.0, 8.0, 16.0
START_TIMEOUT = 4.0

# Events the watchdog makes happen by cancelling a child, and the exit reason
# each gives.
_CANCELS = {"start_timeout": "start_timeout", "hung": "heartbeat_timeout"}


class Ambiguous(Exception):
    """Two events fell on one instant, and their order is the scheduler's choice."""


@dataclass
class Clock:
    now: float = 0.0


@dataclass(frozen=True)
class SupSpec:
    """A supervisor: strategy, intensity, and its children's specs."""

    strategy: Strategy
    intensity: int
    period: float
    # (name, restart, heartbeat timeout or None, or a SupSpec for a subtree)
    children: tuple[tuple[str, Restart, float | None, SupSpec | None], ...]


@dataclass
class MChild:
    name: str
    path: str
    index: int
    restart: Restart
    heartbeat_timeout: float | None
    sub_spec: SupSpec | None = None  # set for a child supervisor
    sub: Model | None = None  # its current (or last) incarnation's model
    state: State = State.STOPPED
    # Its incarnation exists: sleeping its backoff, starting, or running.
    active: bool = False
    # Its own code runs (starting or running): stopping it shows in the stop log.
    in_target: bool = False
    running: bool = False
    starts: int = 0
    restarts: int = 0  # after its own exit (counted against intensity)
    sweep_restarts: int = 0  # stopped and started again by a sibling's sweep
    manual_restarts: int = 0  # by restart_child
    last_reason: str | None = None  # of its last exit (ExitInfo.reason)
    # Restarts since the backoff schedule last reset.
    attempt: int = 0
    started_at: float | None = None
    next_start_at: float | None = None  # end of a backoff already under way
    ready_at: float | None = None  # a slow start calls started() then
    start_deadline: float | None = None
    beat_at: float | None = None
    frozen: bool = False  # hung: beats are ignored
    pending_delay: float = 0.0  # backoff of the launch the start queue will make


@dataclass
class Model:
    path: str
    spec: SupSpec
    clock: Clock
    stops: list[str]  # workers whose code was stopped, in order (tree-wide)
    # The test's start delays by child name, read when a child starts.
    start_delays: dict[str, float]
    children: dict[str, MChild] = field(default_factory=dict)
    window: list[float] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # the start queue
    gave_up: bool = False
    closing: bool = False
    booting: bool = False  # queueing its initial children: nothing starts yet
    # Its start queue has emptied once: a child supervisor counts as started.
    initial_done: bool = False
    next_index: int = 0
    # What happened so far (backoff_over, ready, start_timeout, hung, sweep,
    # escalated): lets the test report how much of the model a run exercised.
    seen: set[str] = field(default_factory=set)

    @classmethod
    def boot(
        cls,
        path: str,
        spec: SupSpec,
        clock: Clock,
        stops: list[str],
        start_delays: dict[str, float],
    ) -> Model:
        model = cls(path, spec, clock, stops, start_delays, booting=True)
        for index, (name, restart, beat, sub) in enumerate(spec.children):
            path = f"{model.path}/{name}"
            model.children[name] = MChild(name, path, index, restart, beat, sub)
            model.pending.append(name)
        model.next_index = len(spec.children)
        model.booting = False
        model._advance()
        return model

    @property
    def now(self) -> float:
        return self.clock.now

    # ---- queries ------------------------------------------------------------

    def ordered(self) -> list[MChild]:
        return sorted(self.children.values(), key=lambda c: c.index)

    def counts(self) -> tuple[int, int]:
        """count_children's (specs, active): active children run (started, not ended)."""
        return len(self.children), sum(c.running for c in self.children.values())

    def busy(self, name: str) -> bool:
        """
        Has an incarnation, or is the crashed child of a sweep waiting to be
        restarted (state backoff); a stopped child queued behind a sibling is not.
        """
        child = self.children[name]
        return child.active or child.state is State.BACKOFF

    def models(self) -> Iterator[Model]:
        """This model and those of its running child supervisors, depth first."""
        yield self
        for child in self.ordered():
            if child.sub is not None and child.in_target:
                yield from child.sub.models()

    def owner(self, name: str) -> Model | None:
        """The model whose child *name* is, among the running ones."""
        for model in self.models():
            if name in model.children:
                return model
        return None

    def rows(self) -> list[tuple[Any, ...]]:
        """What a snapshot should show, depth first in start order."""
        rows = []
        for c in self.ordered():
            started = c.started_at if c.state is State.RUNNING else None
            rows.append(
                (
                    c.path,
                    c.state,
                    c.starts,
                    (c.restarts, c.sweep_restarts, c.manual_restarts),
                    c.last_reason,
                    c.next_start_at,
                    started,
                )
            )
            if c.sub is not None:
                rows.extend(c.sub.rows())
        return rows

    def _timers(self, child: MChild) -> list[tuple[float, str]]:
        if not child.active:
            return []
        if not child.in_target:
            assert child.next_start_at is not None
            return [(child.next_start_at, "backoff_over")]
        if not child.running:
            timers = [(child.start_deadline, "start_timeout")]
            if child.ready_at is not None:
                timers.append((child.ready_at, "ready"))
            return [(t, k) for t, k in timers if t is not None]
        if child.heartbeat_timeout is not None and child.beat_at is not None:
            return [(child.beat_at + child.heartbeat_timeout, "hung")]
        return []

    def _all_timers(self) -> list[tuple[float, Model, str, str]]:
        return [
            (t, model, c.name, kind)
            for model in self.models()
            if not model.gave_up
            for c in model.ordered()
            for t, kind in model._timers(c)
        ]

    def next_event_at(self) -> float | None:
        if self.gave_up:
            return None
        return min((t for t, *_ in self._all_timers()), default=None)

    # ---- time (called on the root model) ------------------------------------

    def advance_to(self, when: float) -> None:
        """
        Carry the tree to *when*, acting on every event due on the way.

        Raises `Ambiguous` when a timeout falls on the same instant as another
        event: their order is up to trio's scheduler.
        """
        assert when >= self.now
        while (at := self.next_event_at()) is not None and at <= when:
            self.clock.now = at
            due = [(m, n, k) for t, m, n, k in self._all_timers() if t <= at]
            if len(due) > 1 and any(kind in _CANCELS for *_, kind in due):
                raise Ambiguous(f"at {at}: {[(n, k) for _, n, k in due]}")
            # Wakeups (a backoff ending, a start completing) commute.
            for model, name, kind in due:
                still = {(id(m), n, k) for t, m, n, k in self._all_timers() if t <= at}
                if not self.gave_up and (id(model), name, kind) in still:
                    model.fire(name, kind)
                    self.settle()
        self.clock.now = when

    def settle(self) -> None:
        """
        Carry what child supervisors did up to their parents: one whose start
        queue emptied counts as started; one that gave up ended abnormally.
        """
        changed = True
        while changed and not self.gave_up:
            changed = False
            for model in list(self.models()):
                for child in model.ordered():
                    sub = child.sub
                    if sub is None or not child.in_target or model.gave_up:
                        continue
                    if sub.gave_up:
                        model.seen.add("escalated")
                        model.exit(child.name, abnormal=True, reason="escalated")
                        changed = True
                    elif not child.running and sub.initial_done and not sub.closing:
                        model._started(child)
                        changed = True

    def fire(self, name: str, kind: str) -> None:
        child = self.children[name]
        self.seen.add(kind)
        if kind == "backoff_over":
            self._enter_target(child)
        elif kind == "ready":
            self._started(child)
        else:
            self.exit(name, abnormal=True, reason=_CANCELS[kind])

    # ---- a child's life -----------------------------------------------------

    def _launch(self, child: MChild, delay: float) -> None:
        child.active = True
        if delay > 0:
            child.state = State.BACKOFF
            child.next_start_at = self.now + delay
        else:
            self._enter_target(child)

    def _enter_target(self, child: MChild) -> None:
        child.state = State.STARTING
        child.in_target = True
        child.next_start_at = None
        if child.sub_spec is not None:
            # A fresh node: new children, empty window, fresh backoff (as OTP).
            child.sub = Model.boot(
                child.path, child.sub_spec, self.clock, self.stops, self.start_delays
            )
            return  # started once its own queue empties (see settle)
        start_delay = self.start_delays.get(child.name, 0.0)  # as the child reads it
        if start_delay == 0:
            self._started(child)
        else:
            child.ready_at = self.now + start_delay
            child.start_deadline = self.now + START_TIMEOUT

    def _started(self, child: MChild) -> None:
        child.state = State.RUNNING
        child.running = True
        child.starts += 1
        child.started_at = self.now
        child.ready_at = child.start_deadline = None
        child.beat_at = self.now  # starting counts as the first beat
        if self.pending and self.pending[0] == child.name:
            self.pending.pop(0)
            self._advance()

    def _end_incarnation(self, child: MChild) -> bool:
        """Forget *child*'s incarnation; True if it was running."""
        was_running = child.running
        if child.in_target and child.sub is not None:
            child.sub.close()
        elif child.in_target:
            self.stops.append(child.name)
        stable = child.started_at is not None and (
            self.now - child.started_at >= RESET_AFTER
        )
        if was_running and stable:
            child.attempt = 0  # a stable run resets the backoff
        child.active = child.in_target = child.running = child.frozen = False
        child.next_start_at = child.ready_at = child.start_deadline = None
        child.beat_at = None
        return was_running

    def _stop(self, child: MChild) -> None:
        if child.active:
            self._end_incarnation(child)
            child.state = State.STOPPED
            # Stopped by its supervisor (stops here are instant: a child never
            # returns by itself, crashes or times out while being stopped).
            child.last_reason = "shutdown"

    def close(self) -> None:
        """Stop every child in reverse start order (a stop, or giving up)."""
        if self.closing:
            return
        self.closing = True
        for name in self.pending:
            child = self.children[name]
            if not child.active:  # queued: it will not start now
                child.state = State.STOPPED
                child.next_start_at = None
        self.pending.clear()
        for other in reversed(self.ordered()):
            self._stop(other)

    # ---- the start queue ----------------------------------------------------

    def _enqueue(self, names: list[str]) -> None:
        queued = set(self.pending) | set(names)
        self.pending = [c.name for c in self.ordered() if c.name in queued]
        self._advance()

    def _advance(self) -> None:
        if self.booting:
            return
        while self.pending and not self.closing:
            head = self.children[self.pending[0]]
            if head.running:
                self.pending.pop(0)
                continue
            if not head.active:
                delay, head.pending_delay = head.pending_delay, 0.0
                self._launch(head, delay)
            return
        if not self.pending:
            self.initial_done = True

    # ---- exits --------------------------------------------------------------

    def exit(self, name: str, *, abnormal: bool, reason: str | None = None) -> None:
        """
        The incarnation of *name* ended by itself (returned, crashed, timed out);
        *reason* defaults to ``crash`` or ``normal``.
        """
        child = self.children[name]
        was_running = self._end_incarnation(child)
        child.last_reason = reason or ("crash" if abnormal else "normal")
        restart = child.restart is Restart.PERMANENT or (
            child.restart is Restart.TRANSIENT and abnormal
        )
        if not restart:
            if name in self.pending:
                self.pending.remove(name)
                self._advance()
            child.state = State.FAILED if abnormal else State.STOPPED
            return
        period = self.spec.period
        self.window = [t for t in self.window if self.now - t <= period]
        self.window.append(self.now)
        if len(self.window) > self.spec.intensity:
            self.gave_up = True
            child.state = State.FAILED
            self.close()
            return
        delay = min(BACKOFF_INITIAL * BACKOFF_FACTOR**child.attempt, BACKOFF_MAX)
        child.attempt += 1
        child.restarts += 1
        if self.spec.strategy is Strategy.ONE_FOR_ONE or not was_running:
            # A failed start is retried alone, whatever the strategy.
            self._launch(child, delay)
        else:
            self._sweep(child, delay)

    def _sweep(self, child: MChild, delay: float) -> None:
        self.seen.add("sweep")
        order = self.ordered()
        if self.spec.strategy is Strategy.REST_FOR_ONE:
            order = order[order.index(child) :]
        swept = [c for c in order if c is child or c.active or c.name in self.pending]
        restart = [
            c.name for c in swept if c is child or c.restart is not Restart.TEMPORARY
        ]
        for victim in reversed(swept):
            if victim is child:
                continue
            if victim.active and victim.name in restart:
                victim.sweep_restarts += 1
            self._stop(victim)
            if victim.name not in restart and victim.name in self.pending:
                self.pending.remove(victim.name)
        child.pending_delay = delay
        child.state = State.BACKOFF
        self._enqueue(restart)

    # ---- what the test does -------------------------------------------------

    def beat(self, name: str) -> None:
        child = self.children[name]
        if child.running and not child.frozen:
            child.beat_at = self.now

    def hang(self, name: str) -> None:
        self.children[name].frozen = True

    def terminate(self, name: str) -> None:
        """
        Stop it. If it is queued and has not started, the siblings queued after
        it (waiting for it) leave the queue too and stay stopped (OTP leaves
        them undefined until restarted).
        """
        child = self.children[name]
        if name in self.pending:
            at = self.pending.index(name)
            dropped = self.pending[at:] if not child.running else [name]
            for other in dropped:
                self.pending.remove(other)
                queued = self.children[other]
                if not queued.active:
                    queued.state = State.STOPPED
                    queued.pending_delay = 0.0
        self._stop(child)
        self._advance()

    def restart_child(self, name: str) -> None:
        """
        Stop it if it is up, then start it at once, whatever the start queue
        holds (OTP): no backoff, not counted. A queued child keeps its place.
        """
        child = self.children[name]
        self._stop(child)
        child.manual_restarts += 1
        child.pending_delay = 0.0
        self._launch(child, 0.0)
        self._advance()

    def delete(self, name: str) -> bool:
        """False (and nothing changes) if the child is busy."""
        if self.busy(name):
            return False
        del self.children[name]
        if name in self.pending:
            self.pending.remove(name)
            self._advance()
        return True

    def add(
        self,
        name: str,
        restart: Restart,
        beat: float | None,
        sub: SupSpec | None = None,
    ) -> None:
        """start_child: the new child starts at once, not held by the start queue."""
        path = f"{self.path}/{name}"
        child = MChild(name, path, self.next_index, restart, beat, sub)
        self.children[name] = child
        self.next_index += 1
        self._launch(child, 0.0)
