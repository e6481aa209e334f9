"""
A timed reference model of one OTP-style supervisor, for tests/test_stateful.py.

It restates docs/principles.md as plainly as possible, with time: backoff
delays, slow starts and start timeouts, heartbeat timeouts, the ordered start
queue, sweeps, restart intensity, and the control calls. It knows nothing of
the runtime's code; it is a second, independent statement of the rules.

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

from dataclasses import dataclass, field

from supervisor import Restart, State, Strategy

INTENSITY, PERIOD = 5, 10.0
BACKOFF_INITIAL, BACKOFF_FACTOR, BACKOFF_MAX, RESET_AFTER = 1.0, 2.0, 8.0, 16.0
START_TIMEOUT = 4.0

# Events the watchdog makes happen by cancelling a child.
_CANCELS = frozenset({"start_timeout", "hung"})


class Ambiguous(Exception):
    """Two events fell on one instant, and their order is the scheduler's choice."""


@dataclass
class MChild:
    name: str
    index: int
    restart: Restart
    heartbeat_timeout: float | None
    state: State = State.STOPPED
    # Its incarnation exists: sleeping its backoff, starting, or running.
    active: bool = False
    # Its own code runs (starting or running): stopping it shows in the stop log.
    in_target: bool = False
    running: bool = False
    starts: int = 0
    restarts: int = 0
    # Restarts since the backoff schedule last reset.
    attempt: int = 0
    started_at: float | None = None
    next_start_at: float | None = None  # end of a backoff already under way
    ready_at: float | None = None  # a slow start calls started() then
    start_deadline: float | None = None
    beat_at: float | None = None
    frozen: bool = False  # hung: beats are ignored
    pending_delay: float = 0.0  # backoff of the launch the start queue will make
    start_delay: float = 0.0  # how long its next start takes (set by the test)


@dataclass
class Model:
    strategy: Strategy
    children: dict[str, MChild]
    now: float = 0.0
    window: list[float] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # the start queue
    stops: list[str] = field(default_factory=list)  # whose code was stopped, in order
    gave_up: bool = False
    next_index: int = 0
    # What happened so far (backoff_over, ready, start_timeout, hung, sweep):
    # lets the test report how much of the model a run exercised.
    seen: set[str] = field(default_factory=set)

    @classmethod
    def boot(
        cls,
        strategy: Strategy,
        specs: list[tuple[str, Restart, float | None]],
    ) -> Model:
        model = cls(strategy, {})
        for name, restart, beat in specs:
            model.add(name, restart, beat)
        return model

    # ---- queries ------------------------------------------------------------

    def ordered(self) -> list[MChild]:
        return sorted(self.children.values(), key=lambda c: c.index)

    def busy(self, name: str) -> bool:
        return self.children[name].active or name in self.pending

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

    def next_event_at(self) -> float | None:
        if self.gave_up:
            return None
        times = [t for c in self.children.values() for t, _ in self._timers(c)]
        return min(times, default=None)

    def _due(self) -> list[tuple[str, str]]:
        return [
            (c.name, kind)
            for c in self.ordered()
            for t, kind in self._timers(c)
            if t <= self.now
        ]

    # ---- time ---------------------------------------------------------------

    def advance_to(self, when: float) -> None:
        """
        Carry the model to *when*, acting on every event due on the way.

        Raises `Ambiguous` when a timeout falls on the same instant as another
        event: their order is up to trio's scheduler.
        """
        assert when >= self.now
        while (at := self.next_event_at()) is not None and at <= when:
            self.now = at
            due = self._due()
            if len(due) > 1 and any(kind in _CANCELS for _, kind in due):
                raise Ambiguous(f"at {at}: {due}")
            # Wakeups (a backoff ending, a start completing) commute.
            for name, kind in due:
                self._fire(name, kind)
        self.now = when

    def _fire(self, name: str, kind: str) -> None:
        child = self.children[name]
        self.seen.add(kind)
        if kind == "backoff_over":
            self._enter_target(child)
        elif kind == "ready":
            self._started(child)
        elif kind == "start_timeout":
            self.exit(name, abnormal=True)
        else:
            assert kind == "hung"
            self.exit(name, abnormal=True)

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
        if child.start_delay == 0:
            self._started(child)
        else:
            child.ready_at = self.now + child.start_delay
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
        if child.in_target:
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

    # ---- the start queue ----------------------------------------------------

    def _enqueue(self, names: list[str]) -> None:
        queued = set(self.pending) | set(names)
        self.pending = [c.name for c in self.ordered() if c.name in queued]
        self._advance()

    def _advance(self) -> None:
        while self.pending and not self.gave_up:
            head = self.children[self.pending[0]]
            if head.running:
                self.pending.pop(0)
                continue
            if not head.active:
                delay, head.pending_delay = head.pending_delay, 0.0
                self._launch(head, delay)
            return

    # ---- exits --------------------------------------------------------------

    def exit(self, name: str, *, abnormal: bool) -> None:
        """The incarnation of *name* ended by itself (returned, crashed, timed out)."""
        child = self.children[name]
        was_running = self._end_incarnation(child)
        restart = child.restart is Restart.PERMANENT or (
            child.restart is Restart.TRANSIENT and abnormal
        )
        if not restart:
            if name in self.pending:
                self.pending.remove(name)
                self._advance()
            child.state = State.FAILED if abnormal else State.STOPPED
            return
        self.window = [t for t in self.window if self.now - t <= PERIOD]
        self.window.append(self.now)
        if len(self.window) > INTENSITY:
            self._give_up(child)
            return
        delay = min(BACKOFF_INITIAL * BACKOFF_FACTOR**child.attempt, BACKOFF_MAX)
        child.attempt += 1
        child.restarts += 1
        if self.strategy is Strategy.ONE_FOR_ONE or not was_running:
            # A failed start is retried alone, whatever the strategy.
            self._launch(child, delay)
        else:
            self._sweep(child, delay)

    def _sweep(self, child: MChild, delay: float) -> None:
        self.seen.add("sweep")
        order = self.ordered()
        if self.strategy is Strategy.REST_FOR_ONE:
            order = order[order.index(child) :]
        swept = [c for c in order if c is child or c.active or c.name in self.pending]
        restart = [
            c.name for c in swept if c is child or c.restart is not Restart.TEMPORARY
        ]
        for victim in reversed(swept):
            if victim is child:
                continue
            self._stop(victim)
            if victim.name not in restart and victim.name in self.pending:
                self.pending.remove(victim.name)
        child.pending_delay = delay
        child.state = State.BACKOFF
        self._enqueue(restart)

    def _give_up(self, child: MChild) -> None:
        self.gave_up = True
        child.state = State.FAILED
        for other in reversed(self.ordered()):
            self._stop(other)
        self.pending.clear()

    # ---- what the test does -------------------------------------------------

    def beat(self, name: str) -> None:
        child = self.children[name]
        if child.running and not child.frozen:
            child.beat_at = self.now

    def hang(self, name: str) -> None:
        self.children[name].frozen = True

    def terminate(self, name: str) -> None:
        child = self.children[name]
        if name in self.pending:
            was_head = self.pending[0] == name
            self.pending.remove(name)
            if not child.active:
                child.state = State.STOPPED
            if was_head:
                self._advance()
        self._stop(child)

    def restart_child(self, name: str) -> None:
        """Stop it if it is up, then queue it again: no backoff, not counted."""
        child = self.children[name]
        if name in self.pending:
            self.pending.remove(name)
        self._stop(child)
        child.pending_delay = 0.0
        self._enqueue([name])

    def delete(self, name: str) -> bool:
        """False (and nothing changes) if the child is busy."""
        if self.busy(name):
            return False
        del self.children[name]
        return True

    def add(
        self,
        name: str,
        restart: Restart,
        beat: float | None,
        start_delay: float = 0.0,
    ) -> None:
        child = MChild(name, self.next_index, restart, beat, start_delay=start_delay)
        self.children[name] = child
        self.next_index += 1
        self._enqueue([name])
