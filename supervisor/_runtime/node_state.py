"""
The base layer of a supervisor node (`Node`): its state, its control task
(jobs run one at a time), its watchdog timers and the stop of a child within
its shutdown bound. The layers above add the start pipeline (`node_starts`)
and the node's life and exits (`node`).
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from .._errors import (
    ChildLookupError,
    TooManyRestarts,
    TreeNotRunning,
)
from .._policy.intensity import RestartWindow
from .._policy.lifecycle import (
    CANCEL_OVERDUE,
    STOP_OVERDUE,
    STOP_REQUESTED,
)
from .._snapshot import Reason
from .._spec import (
    NodeSpec,
    Strategy,
    SupervisorSpec,
)
from .hub import Hub
from .runners import traits
from .slot import (
    LOG,
    Incarnation,
    Slot,
    make_slot,
)
from .start_queue import StartQueue

T = TypeVar("T")


class NodeState:
    """A supervisor node's state, control task, timers and stops (see `Node`)."""

    def __init__(
        self,
        spec: SupervisorSpec,
        path: str,
        hub: Hub,
        *,
        owns_watchdog: bool = False,
        escalates: bool = True,
    ) -> None:
        self.spec = spec
        # The top node that starts first and stops last (the user's root, or
        # `_system` when there is one) runs the tree's watchdog task, so every
        # stop in the tree is bounded.
        self.owns_watchdog = owns_watchdog
        # False for the tree's own `_system` node (HTTP server, check runners):
        # it restarts its children with backoff forever, since giving up would
        # stop the user's tree; only a child's failed first start fails it.
        self.escalates = escalates
        self.path = path
        self.hub = hub
        # Bound once: attribute reads cost on the restart path.
        self._now = hub.now
        self._watchdog = hub.watchdog
        self._beat_clock = hub.beat_clock
        self._beat_offset = hub.beat_offset
        self.log = LOG.bind(path=path)
        kind = traits(spec)
        self.dynamic = kind.dynamic
        self.strategy = kind.strategy or Strategy.ONE_FOR_ONE
        self.window = RestartWindow(spec.intensity, spec.period)
        self.auto_shutdown = kind.auto_shutdown
        self.slots: dict[str, Slot] = {}
        self._next_index = 0
        self._dynamic_serial = 0
        for child in kind.children:
            self._add_slot(child)
        self._pending: StartQueue[Slot] = StartQueue()
        # Sweeps (and restart_child calls) still stopping children: while any
        # is, the start queue waits, so start order holds across them.
        self._held = 0
        self._nursery: trio.Nursery | None = None
        # The node's own context once it runs: what its incarnations start from.
        self._context = contextvars.copy_context()
        self._jobs_send, self._jobs_recv = trio.open_memory_channel[
            Callable[[], Awaitable[None]]
        ](math.inf)
        self.closing = False
        # Awaited in the control task before a closing node stops its children
        # (each bounds itself): a fleet service leaves the fleet first, so that
        # readiness fails, and the registry forgets it, before anything stops.
        self.before_stop: list[Callable[[], Awaitable[None]]] = []
        self.failure: TooManyRestarts | None = None
        self._started = trio.Event()  # all initial children started (or closing)
        self._finished = trio.Event()  # every incarnation and the control task ended

    async def _control_loop(self) -> None:
        async for job in self._jobs_recv:
            await job()

    def submit(self, job: Callable[[], Awaitable[None]]) -> None:
        self._jobs_send.send_nowait(job)

    def check_open(self) -> None:
        if self.closing:
            raise TreeNotRunning(self.path, "the supervisor is stopping")

    async def call(self, job: Callable[[], Awaitable[T]]) -> T:
        """
        Run *job* in the control task, after the jobs already queued (a sweep in
        progress, say), and return its result: control calls are serialised with
        restarts, as OTP's supervisor handles one message at a time.
        """
        self.check_open()
        done = trio.Event()
        result: list[T] = []
        error: list[Exception] = []

        async def wrapped() -> None:
            try:
                self.check_open()  # it may have begun closing while this waited
                result.append(await job())
            except Exception as exc:  # handed to the caller, who re-raises it
                error.append(exc)
            finally:
                done.set()

        self.submit(wrapped)
        await done.wait()
        if error:
            raise error[0]
        return result[0]

    def _add_slot(self, spec: NodeSpec) -> Slot:
        slot = make_slot(spec, f"{self.path}/{spec.name}", self._next_index, self.spec)
        self._next_index += 1
        self.slots[spec.name] = slot
        return slot

    def slot(self, name: str) -> Slot:
        try:
            return self.slots[name]
        except KeyError:
            raise ChildLookupError(
                f"{self.path}/{name}", f"no child named {name!r} under {self.path}"
            ) from None

    def _start_overdue(self, inc: Incarnation, now: float) -> None:
        if inc.slot.current is inc and not inc.running and not inc.stopping:
            inc.start_timer = None
            self._cancel_overdue(inc, Reason.START_TIMEOUT)

    def _beat_due(self, inc: Incarnation, now: float) -> float | None:
        slot = inc.slot
        timeout = slot.heartbeat_timeout
        if (
            slot.current is not inc
            or not inc.running
            or inc.stopping
            or timeout is None
        ):
            return None
        expiry = inc.at + self._beat_offset + timeout
        if expiry > now:
            return expiry  # it beat since: check again when that beat expires
        inc.beat_timer = None
        slot.missed_heartbeats += 1
        self.log.warning(
            "child_hung",
            path=slot.path,
            heartbeat_timeout=timeout,
            last_beat_age=now - expiry + timeout,
        )
        self._cancel_overdue(inc, Reason.HEARTBEAT_TIMEOUT)
        return None

    def _cancel_overdue(self, inc: Incarnation, reason: Reason) -> None:
        """
        The watchdog gives up on *slot* (start or heartbeat timeout): cancel it,
        within the shutdown bound a stop would give it. A child that swallows
        the cancellation and goes on is reported ``unstopped`` past that bound.
        """
        inc.cancel(reason)
        inc.slot.move(CANCEL_OVERDUE)
        self.hub.bump()
        # Through the runner's kill once the bound is over (a process gets
        # SIGKILL; a task, already cancelled, is reported unstopped at once).
        self._bound_stop(inc, self._stop_bound_over)

    # ---- what a runner may ask of the timers (a Process child's notify) ------

    def extend_deadline(self, inc: Incarnation, at: float) -> None:
        """*inc*'s pending start or stop deadline moves to *at* (EXTEND_TIMEOUT_USEC)."""
        timer = inc.start_timer
        if timer is not None and timer.alive:
            self._watchdog.cancel(timer)
            inc.start_timer = self._watchdog.call_at(at, self._start_overdue, inc)
        timer = inc.stop_timer
        if timer is not None and timer.alive:
            then = timer.fn
            self._watchdog.cancel(timer)
            inc.stop_timer = self._watchdog.call_at(at, then, inc)

    def heartbeat_timeout_changed(self, inc: Incarnation, timeout: float) -> None:
        """*inc* asks for a new heartbeat timeout (WATCHDOG_USEC): it counts as a beat."""
        slot = inc.slot
        if slot.current is not inc:
            return
        slot.heartbeat_timeout = timeout
        self.hub.bump()
        if inc.running and not inc.stopping:
            inc.at = self._beat_clock()
            self._watchdog.cancel(inc.beat_timer)
            inc.beat_timer = self._watchdog.call_at(
                self._now() + timeout, self._beat_due, inc
            )

    def watchdog_triggered(self, inc: Incarnation) -> None:
        """*inc* asks to be restarted (WATCHDOG=trigger): handled as a missed heartbeat."""
        if inc.slot.current is inc and not inc.stopping and inc.cancel_reason is None:
            inc.slot.missed_heartbeats += 1
            self._cancel_overdue(inc, Reason.HEARTBEAT_TIMEOUT)

    async def stop_slot(self, slot: Slot) -> None:
        """
        Stop *slot*'s incarnation and wait for it: graceful request first if the
        child opted in, then cancellation; past its shutdown bound it is reported
        ``unstopped`` and still waited for (trio cannot abandon a task).
        """
        done = self._begin_stop(slot)
        if done is not None:
            await done.wait()

    def _begin_stop(self, slot: Slot) -> trio.Event | None:
        """Deliver the stop to *slot*; an event set once it ended (None: nothing runs)."""
        inc = slot.current
        if inc is None:
            return None
        if inc.done is not None:  # already being stopped (overlapping sweeps)
            return inc.done
        inc.stopping = True
        done = inc.done = trio.Event()
        # Unstopped stays unstopped: past its bound already (watchdog).
        slot.move(STOP_REQUESTED)
        self.log.debug("child_stopping", path=slot.path, shutdown=slot.spec.shutdown)
        self.hub.bump()
        if inc.cancel_reason is None:
            slot.runner.stop(inc)
            self._bound_stop(inc, self._stop_bound_over)
        # else the watchdog cancelled it, and its shutdown bound runs since
        return done

    def _bound_stop(
        self, inc: Incarnation, then: Callable[[Incarnation, float], None]
    ) -> None:
        bound = inc.slot.spec.shutdown
        if bound is not None:
            self._watchdog.cancel(inc.stop_timer)
            inc.stop_timer = self._watchdog.call_at(self._now() + bound, then, inc)

    def _stop_bound_over(self, inc: Incarnation, now: float) -> None:
        # Past its shutdown bound: killed (one more bound), or unstopped now.
        slot = inc.slot
        if slot.current is inc:
            inc.stop_timer = None
            if slot.runner.kill(inc):
                self._bound_stop(inc, self._stop_overdue)
            else:
                self._stop_overdue(inc, now)

    def _stop_overdue(self, inc: Incarnation, now: float) -> None:
        slot = inc.slot
        if slot.current is inc:
            inc.stop_timer = None
            slot.move(STOP_OVERDUE)
            self.log.error(
                "child_unstopped",
                path=slot.path,
                shutdown=slot.spec.shutdown,
                reason=str(inc.cancel_reason),  # why it was cancelled
            )
            self.hub.bump()
