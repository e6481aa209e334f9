"""
The trio driver of one supervisor node: it starts, watches, restarts and stops
the node's children by asking the pure policy (`_policy`) what to do.

The model
---------
Each child is a *slot*; each run of a child is an *incarnation* (`_incarnation`,
which owns everything that lasts one run; none between runs): one task in
the node's nursery, inside its own cancel scope, that first sleeps its backoff
delay (state ``backoff``) and then awaits the child's target. The incarnation
catches the target's `Exception` itself, so a crash never reaches the nursery
and siblings are untouched; trio's `Cancelled`, `KeyboardInterrupt` and
`SystemExit` are never swallowed.

Exits are handled synchronously in the exiting task (`on_exit`): one pure
function, `_policy.exits.decide_exit`, decides (stopped, ended, auto-shutdown,
escalate, restart alone or sweep, with the backoff delay), `on_exit` applies
that decision and nothing else, and a one-for-one restart is launched right
there, as a new incarnation. Every change of a child's state goes through
`Slot.move`, checked against the lifecycle table (`_policy.lifecycle`). Work that must wait -- stopping children one by one, each within
its shutdown bound -- runs as a *job* in the node's single control task, and
so do control calls (start, terminate, restart, delete a child): they are
serialised with sweeps, as OTP's supervisor handles one message at a time.
Waiting for a restart delay happens in the child's own incarnation, so the
node keeps handling other exits and control calls.

Starts follow spec order through a *queue*: the head child is launched and
the next one only when the head counts as started (at once for a plain
target, at ``task_status.started()`` for one that takes it). A head that
fails to start is retried with backoff, and the queue waits for it. A sweep
(ONE_FOR_ALL, REST_FOR_ONE) queues everything it will restart at once and
holds the queue until its stops are done. Dynamic supervisors skip the queue:
their children are independent. Explicit control calls skip it too (OTP's
``start_child`` and ``restart_child`` start their child at once): a sibling
stuck in its backoff loop never holds them up.

A control job names its child by path and resolves it when it *runs*, not
when it was queued: a child terminated or deleted meanwhile is gone (a
`ChildLookupError`), never started again behind its supervisor's back.

Timers (start timeouts, heartbeat checks, stop bounds) live in the tree's
one watchdog heap (`_watchdog`).

Stops: the node's children live under a shielded cancel scope, so a
cancellation from outside (an enclosing scope, Ctrl-C) cannot hit them all at
once. The node's own task notices it, turns it into an ordered stop (reverse
start order, each child within its bound) and then re-raises it. A dynamic
supervisor stops its independent children all at once instead. A child the
watchdog cancels (start or heartbeat timeout) gets the same bound as a stop.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from . import _runners
from ._errors import (
    ChildExists,
    ChildLookupError,
    ChildRunning,
    TooManyRestarts,
    TreeNotRunning,
)
from ._incarnation import CURRENT, Incarnation
from ._policy.exits import (
    ENDED,
    ENDED_AUTO_SHUTDOWN,
    ESCALATE,
    RESTART_ALONE,
    STOPPED_CRASHED,
    STOPPED_RETURNED,
    decide_exit,
)
from ._policy.intensity import RestartWindow
from ._policy.lifecycle import (
    BACKOFF_WAIT,
    CALLED,
    CANCEL_OVERDUE,
    DEQUEUED,
    ELECTED,
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
)
from ._policy.strategy import PlanEntry, plan_restart
from ._runners import traits
from ._slot import (
    LOG,
    Slot,
    StartedHandle,
    TaskStatus,
    make_slot,
)
from ._snapshot import ExitInfo, Reason, State
from ._spec import (
    AutoShutdown,
    NodeSpec,
    Strategy,
    SupervisorSpec,
    child_to_add,
)
from ._start_queue import StartQueue

if TYPE_CHECKING:
    from ._tree import Tree

T = TypeVar("T")

# Cancellations by the watchdog: the reason an incarnation ended, whatever
# the child does once cancelled.
_WATCHDOG_REASONS = (Reason.START_TIMEOUT, Reason.HEARTBEAT_TIMEOUT)
# Bound once for on_exit: an enum member lookup costs ~0.08 us on Python 3.11.
_ESCALATED, _NORMAL = Reason.ESCALATED, Reason.NORMAL


class Node:
    """A running supervisor node (static or dynamic)."""

    def __init__(
        self,
        spec: SupervisorSpec,
        path: str,
        tree: Tree,
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
        self.tree = tree
        # trio's clock, bound once: half the cost of trio.current_time() on the
        # restart path, and the same clock (a MockClock in tests).
        self._now = tree.now
        self._watchdog = tree.watchdog
        self._beat_clock = tree.beat_clock
        self._beat_offset = tree.beat_offset
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
        self._jobs_send, self._jobs_recv = trio.open_memory_channel[
            Callable[[], Awaitable[None]]
        ](math.inf)
        self.closing = False
        self.failure: TooManyRestarts | None = None
        # Awaited in the control task before a closing node stops its children
        # (each bounds itself): a fleet service leaves the fleet first, so that
        # readiness fails, and the registry forgets it, before anything stops.
        self.before_stop: list[Callable[[], Awaitable[None]]] = []
        self._started = trio.Event()  # all initial children started (or closing)
        self._finished = trio.Event()  # every incarnation and the control task ended

    # ---- life of the node ----------------------------------------------------

    async def run(self, task_status: StartedHandle) -> None:
        """
        Run the node until it closes; report ``started`` once every initial child has.

        Raises `TooManyRestarts` if the node gave up; re-raises a cancellation or
        `KeyboardInterrupt` from outside after its ordered stop.
        """
        self.log.debug("supervisor_starting")
        error: BaseException | None
        try:
            async with trio.open_nursery() as outer:
                outer.start_soon(self._host)
                try:
                    await self._started.wait()
                    if not self.closing:
                        self.log.info("supervisor_started")
                    if self.failure is None and not self.tree.aborted:
                        # Also when it is already closing (auto-shutdown or a
                        # stop during the start): the start itself succeeded.
                        task_status.started()
                    await self._finished.wait()
                except BaseException:
                    # Cancelled (or Ctrl-C) from outside: stop in order, then re-raise.
                    self.begin_close()
                    with trio.CancelScope(shield=True):
                        await self._finished.wait()
                    if self.failure is not None:
                        self._log_escalated(self.failure, preempted=True)
                    self.log.info("supervisor_stopped")
                    raise
        except BaseExceptionGroup as group:
            error = _sole(group)
        else:
            error = None
        if error is not None:
            # Raised outside the except clause, so that the error does not
            # point back (as its __context__) to the group that holds it; and
            # the traceback keeps this frame, so no local may keep the error.
            # Either would make a cycle that only a full collection frees.
            try:
                raise error
            finally:
                del error
        if self.failure is not None:
            self._log_escalated(self.failure, preempted=False)
            raise self._take_failure()
        self.log.info("supervisor_stopped")

    def _take_failure(self) -> TooManyRestarts:
        # Raised from run(), whose frame (and so this node) the traceback
        # keeps: a failure still held here would tie node, frames and error
        # into a cycle, and a restarted subtree's old node, with all its
        # slots, would wait for a full garbage collection to be freed.
        failure, self.failure = self.failure, None
        assert failure is not None
        return failure

    def _log_escalated(self, failure: TooManyRestarts, *, preempted: bool) -> None:
        # preempted: its parent was stopping it anyway (or the tree was being
        # cancelled), so the failure cannot reach the parent as a crash; it is
        # still reported, so that no intensity_exceeded goes unanswered.
        self.log.error(
            "supervisor_escalated",
            intensity=self.spec.intensity,
            period=self.spec.period,
            last_reason=None if failure.last is None else str(failure.last.reason),
            preempted=preempted,
        )

    async def _host(self) -> None:
        try:
            # The shield keeps outside cancellation off the children: the node's
            # own task turns it into an ordered stop instead.
            with trio.CancelScope(shield=True):
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    nursery.start_soon(self._control_loop)
                    if self.owns_watchdog:
                        nursery.start_soon(self._watchdog.run)
                    self._enqueue(list(self.slots.values()))
        finally:
            self._started.set()
            self._finished.set()

    async def _control_loop(self) -> None:
        async for job in self._jobs_recv:
            await job()

    def submit(self, job: Callable[[], Awaitable[None]]) -> None:
        self._jobs_send.send_nowait(job)

    def begin_close(self) -> None:
        """Stop every child in reverse start order, then end the node. Idempotent."""
        if self.closing:
            return
        self.closing = True
        for slot in self._pending:
            if not slot.active:  # queued or waiting for a sweep: it will not start
                slot.move(DEQUEUED)
        self._pending.clear()
        self._started.set()
        for slot in self.slots.values():
            slot.settle()  # callers waiting for a start that will not come
        self.tree.bump()
        self.submit(self._close_job)

    async def _close_job(self) -> None:
        for hook in self.before_stop:
            await hook()
        order = sorted(self.slots.values(), key=lambda s: s.index, reverse=True)
        if self.dynamic:
            # Independent children are stopped together, as OTP's
            # simple_one_for_one and Elixir's DynamicSupervisor do: a pool of
            # draining children fits one shutdown bound, not one per child.
            stops = [self._begin_stop(slot) for slot in order]
            for done in stops:
                if done is not None:
                    await done.wait()
        else:
            for slot in order:
                await self.stop_slot(slot)
        self._jobs_send.close()
        if self.owns_watchdog:
            self._watchdog.stop()  # every stop in the tree is over: no bound left

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

    # ---- the start pipeline --------------------------------------------------

    def _enqueue(self, slots: Iterable[Slot]) -> None:
        """Queue *slots* for starting, in start order behind what is queued."""
        if self.dynamic:
            # A dynamic supervisor's children are independent of each other: a
            # failing one must not hold up the next (OTP's simple_one_for_one).
            for slot in slots:
                if not slot.active:
                    self._launch(slot, slot.pending_delay)
                    slot.pending_delay = 0.0
            self._started.set()  # it has no initial children to wait for
            return
        for slot in slots:
            self._pending.add(slot)
        self._advance()

    def _advance(self) -> None:
        """Launch the queue's head once the one before it has started."""
        if self._held:
            return  # a sweep is still stopping children; it advances when done
        pending = self._pending
        while pending and not self.closing:
            head = pending.head()
            assert head is not None
            if head.running:
                pending.pop_head()
                continue
            if not head.active:
                self._launch(head, head.pending_delay)
                head.pending_delay = 0.0
            return
        if not pending:
            self._started.set()

    def _hold(self) -> None:
        self._held += 1

    def _release(self) -> None:
        self._held -= 1
        self._advance()

    def settle_event(self, slot: Slot) -> trio.Event:
        """
        An event set once *slot*'s start has settled: it started, its attempt
        ended, or the node began closing. (Control calls launch their child at
        once, so no caller waits for the start queue.)
        """
        event = trio.Event()
        inc = slot.current
        if self.closing or inc is None or inc.running:
            event.set()
        else:
            slot.waiters.append(event)
        return event

    def _drop_pending(self, slot: Slot) -> None:
        """*slot*, which ended for good, leaves the start queue (its exit set its state)."""
        if slot in self._pending:
            was_head = self._pending.head() is slot
            self._pending.remove(slot)
            slot.settle()  # a start_child caller waits for a start that will not come
            if was_head:
                self._advance()

    def _drop_from(self, slot: Slot) -> None:
        """
        *slot* is terminated: out of the start queue, and if it had not started
        yet, so are the siblings queued after it, which wait for it. They stay
        stopped until restarted, as OTP leaves the children after a failed
        restart undefined once that child is terminated.
        """
        pending = self._pending
        if slot not in pending:
            return
        # The slot and every sibling queued after it (start order is index order).
        dropped = (
            [s for s in pending if s.index >= slot.index]
            if not slot.running
            else [slot]
        )
        for other in dropped:
            pending.remove(other)
            if not other.active:
                other.move(DEQUEUED)
                other.pending_delay = 0.0
                other.settle()
        self.tree.bump()
        self._advance()  # an emptied queue: the node counts as started

    # ---- incarnations --------------------------------------------------------

    def _launch(self, slot: Slot, delay: float, *, relaunch: bool = False) -> None:
        # relaunch: it replaces the incarnation of *slot* that just ended.
        if self.closing or self._nursery is None:
            return
        if self.slots.get(slot.spec.name) is not slot:
            # Removed (terminated dynamic child, deleted): a launch now would
            # run a copy no snapshot shows and no stop reaches.
            return
        inc = slot.current = Incarnation(
            slot,
            self._beat_clock,
            trio.Event() if slot.graceful else None,
            self._now() + delay if delay > 0 else None,
        )
        if delay > 0:
            slot.move(RELAUNCH_LATER if relaunch else BACKOFF_WAIT)
        else:
            slot.move(RELAUNCH if relaunch else LAUNCH)
        self.tree.bump()
        self._nursery.start_soon(self._incarnation, inc, delay)

    async def _incarnation(self, inc: Incarnation, delay: float) -> None:
        CURRENT.set(inc)
        slot = inc.slot
        scope = inc.scope
        exit_info: ExitInfo | None = None
        try:
            with scope:
                if delay > 0:
                    await trio.sleep(delay)
                else:
                    # A child that crashes before its first checkpoint would
                    # otherwise make this restart loop uncancellable.
                    await trio.lowlevel.checkpoint_if_cancelled()
                await slot.runner.run(self, inc, slot.spec)
            if scope.cancel_called:
                # Also when the child swallowed the cancellation (cancelled_caught
                # is then False) and returned: why it was cancelled wins.
                exit_info = self._exit_for_cancel(inc)
            else:
                exit_info = ExitInfo(reason=Reason.NORMAL, time=self._now())
        except Exception as exc:
            exit_info = self._crashed(inc, exc)
        except trio.Cancelled:
            raise  # unbound: a name for it here would tie it to this frame
        except BaseException as exc:
            # KeyboardInterrupt or SystemExit inside a child: stop the whole
            # tree in order; the root re-raises it once everything stopped.
            self.tree.abort(exc)
        finally:
            inc.end()  # a task it left behind beats no more
            self.on_exit(inc, exit_info)

    def _crashed(self, inc: Incarnation, exc: Exception) -> ExitInfo:
        _drop_own_frames(exc)
        slot = inc.slot
        cancelled = inc.cancel_reason
        if cancelled is not None and cancelled in _WATCHDOG_REASONS:
            # It raised once the watchdog cancelled it: the timeout is why it
            # ended; the exception is kept as evidence.
            reason = cancelled
        elif isinstance(exc, TooManyRestarts):
            reason = Reason.ESCALATED
        else:
            reason = Reason.CRASH
        exit_info = ExitInfo.from_exception(reason, self._now(), exc)
        self.tree.count_crash(reason)
        slot.log.warning(
            "child_crashed",
            reason=reason,  # a StrEnum: renders as its value
            exc_type=exit_info.exc_type,
            exc_message=exit_info.exc_message,
            exc_info=exc,
        )
        return exit_info

    def _exit_for_cancel(self, inc: Incarnation) -> ExitInfo:
        """The incarnation was cancelled by the supervisor, the watchdog or a test."""
        error = inc.error
        if error is not None and not inc.stopping:
            inc.error = None  # held no longer than needed: no cycle through it
            return self._crashed(inc, error)
        reason = inc.cancel_reason or Reason.SHUTDOWN
        return ExitInfo(reason=reason, time=self._now())

    # ---- what a runner (`_runners`) calls -----------------------------------

    def calling(self, inc: Incarnation, start_timeout: float | None) -> None:
        """*inc*'s code is called and it is not started yet: its start is timed."""
        inc.slot.move(CALLED)
        inc.next_start_at = None
        self.tree.bump()
        if start_timeout is not None:
            inc.start_timer = self._watchdog.call_at(
                self._now() + start_timeout, self._start_overdue, inc
            )

    def task_status(self, inc: Incarnation) -> TaskStatus:
        """The ``task_status`` that makes *inc* count as started."""
        return TaskStatus(self, inc)

    def child_node(self, inc: Incarnation, spec: SupervisorSpec) -> Node:
        """The node that runs supervisor child *spec* for *inc*."""
        node = inc.slot.node = Node(spec, inc.slot.path, self.tree)
        return node

    def on_started(self, inc: Incarnation) -> None:
        """*inc* counts as started (unless it is no longer its slot's current one)."""
        slot = inc.slot
        if slot.current is not inc or inc.stopping or inc.cancel_reason is not None:
            return  # too late: it is being stopped, or its start timed out
        now = self._now()
        slot.move(STARTED)
        inc.running = True
        slot.started_at = now
        inc.next_start_at = None
        slot.starts += 1
        if inc.start_timer is not None:
            self._watchdog.cancel(inc.start_timer)
            inc.start_timer = None
        timeout = slot.heartbeat_timeout
        if timeout is not None:
            # Starting counts as the first beat: the next is due a timeout later.
            inc.at = self._beat_clock()
            inc.beat_timer = self._watchdog.call_at(now + timeout, self._beat_due, inc)
        if slot.starts == 1:
            slot.log.info("child_started")
        else:
            slot.log.info("child_restarted", starts=slot.starts, restarts=slot.restarts)
        self.tree.bump()
        pending = self._pending
        if pending and pending.head() is slot:
            pending.pop_head()
            self._advance()
        if slot.waiters:
            slot.settle()

    def standby(self, inc: Incarnation) -> None:
        """
        *inc*, a fleet singleton (`_singleton`), waits for its election: it
        counts as started for the start queue (later siblings start), but not
        as running; a run it had (a term that ended) is over.
        """
        slot = inc.slot
        if slot.current is not inc or inc.stopping:
            return
        inc.running = False
        if inc.start_timer is not None:
            self._watchdog.cancel(inc.start_timer)
            inc.start_timer = None
        if inc.beat_timer is not None:
            self._watchdog.cancel(inc.beat_timer)
            inc.beat_timer = None
        inc.next_start_at = None
        slot.move(STANDBY_WAIT)
        self.tree.bump()
        pending = self._pending
        if pending and pending.head() is slot:
            pending.pop_head()
            self._advance()
        if slot.waiters:
            slot.settle()

    def elected(self, inc: Incarnation) -> None:
        """*inc*, in standby, won its election: its code is started now."""
        if inc.slot.current is inc and not inc.stopping:
            inc.slot.move(ELECTED)
            self.tree.bump()

    # ---- watchdog timers (called by the tree's watchdog task) ----------------

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
        slot.log.warning(
            "child_hung",
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
        self.tree.bump()
        self._bound_stop(inc, self._stop_overdue)

    def on_exit(self, inc: Incarnation, exit_info: ExitInfo | None) -> None:
        """*inc* ended: ask the policy, then apply its decision."""
        slot = inc.slot
        was_running = inc.running
        # One clock read per exit: the exit already carries its time.
        now = exit_info.time if exit_info is not None else self._now()
        started_at = slot.started_at
        self._forget(inc)
        spec = slot.spec
        kind, delay = decide_exit(
            None if exit_info is None else exit_info.reason,
            now,
            now - started_at if was_running and started_at is not None else None,
            was_running=was_running,
            stop_reached=inc.done is not None,  # a stop was delivered to it
            stopping=inc.stopping,
            closing=self.closing,
            restart=spec.restart,
            significant=spec.significant,
            auto_shutdown=self.auto_shutdown,
            # Read by the policy for ALL_SIGNIFICANT only: no scan otherwise.
            significant_alive=spec.significant
            and self.auto_shutdown is AutoShutdown.ALL_SIGNIFICANT
            and self._significant_alive(slot),
            strategy=self.strategy,
            escalates=self.escalates,
            ever_started=slot.starts > 0,
            window=self.window,
            schedule=slot.schedule,
        )
        if kind <= STOPPED_RETURNED:
            self._stopped(slot, exit_info, now, kind)
            return
        assert exit_info is not None  # the policy stops an incarnation without one
        slot.last_exit = exit_info
        reason = exit_info.reason
        if reason is _ESCALATED:
            slot.gave_up += 1
        if reason is _NORMAL:
            slot.log.info("child_exited")
        elif exit_info.exc_type is None:  # a timeout (exceptions: see _crashed)
            self._timed_out(slot, exit_info)
        if kind in (ENDED, ENDED_AUTO_SHUTDOWN):
            self._ended(slot, exit_info, auto_shutdown=kind == ENDED_AUTO_SHUTDOWN)
            return
        if kind == ESCALATE:
            slot.move(EXIT_FAILED)
            self.tree.bump()
            self._escalate(exit_info)
            return
        by_reason = slot.restarts_by_reason
        by_reason[reason] = by_reason.get(reason, 0) + 1
        slot.log.info(
            "child_restart_scheduled", delay=delay, attempt=slot.schedule.attempt
        )
        if kind == RESTART_ALONE:
            self._launch(slot, delay, relaunch=True)
        else:
            self._sweep(slot, delay)

    def _significant_alive(self, slot: Slot) -> bool:
        """Does a significant sibling of *slot* run, or wait to start?"""
        pending = self._pending
        return any(
            s.active or s in pending
            for s in self.slots.values()
            if s is not slot and s.spec.significant
        )

    def _forget(self, inc: Incarnation) -> None:
        """*inc* ended: its slot has none; wake whoever waited for its end."""
        slot = inc.slot
        slot.current = None
        # Checked here: a call per timer would cost more than the check.
        if inc.start_timer is not None:
            self._watchdog.cancel(inc.start_timer)
        if inc.beat_timer is not None:
            self._watchdog.cancel(inc.beat_timer)
        if inc.stop_timer is not None:
            self._watchdog.cancel(inc.stop_timer)
        inc.error = None
        if inc.done is not None:
            inc.done.set()
        if slot.waiters:
            slot.settle()

    def _timed_out(self, slot: Slot, exit_info: ExitInfo) -> None:
        self.tree.count_crash(exit_info.reason)
        slot.log.warning("child_crashed", reason=str(exit_info.reason))

    def _stopped(
        self, slot: Slot, exit_info: ExitInfo | None, now: float, kind: int
    ) -> None:
        """*slot* ended while it, or its supervisor, was being stopped: report it."""
        slot.move(EXIT_STOPPED)
        if kind == STOPPED_CRASHED:
            assert exit_info is not None
            slot.last_exit = exit_info
            if exit_info.exc_type is None:
                self._timed_out(slot, exit_info)  # crashes: see _crashed
            slot.log.info("child_stopped")
        elif kind == STOPPED_RETURNED:
            # As in OTP, only a child the supervisor stopped ends with ``shutdown``.
            slot.last_exit = exit_info
            slot.log.info("child_exited")
        else:
            # Stopped on purpose: readiness and dashboards must tell this from
            # "never started" (no exit at all) and from an older crash.
            slot.last_exit = ExitInfo(reason=Reason.SHUTDOWN, time=now)
            slot.log.info("child_stopped")
        self.tree.bump()

    def _ended(self, slot: Slot, exit_info: ExitInfo, *, auto_shutdown: bool) -> None:
        """*slot* ended for good (its restart type says so)."""
        slot.move(EXIT_FAILED if exit_info.abnormal else EXIT_STOPPED)
        self._drop_pending(slot)
        self.tree.bump()
        if self.dynamic:
            del self.slots[slot.spec.name]
        if auto_shutdown:
            self.log.info(
                "auto_shutdown", child=slot.spec.name, mode=self.auto_shutdown.value
            )
            self.begin_close()

    def _escalate(self, exit_info: ExitInfo) -> None:
        self.failure = TooManyRestarts(
            self.path, self.spec.intensity, self.spec.period, exit_info
        )
        self.log.error(
            "intensity_exceeded",
            intensity=self.spec.intensity,
            period=self.spec.period,
            last_reason=str(exit_info.reason),
            last_exc_type=exit_info.exc_type,
        )
        self.begin_close()

    def _sweep(self, slot: Slot, delay: float) -> None:
        """
        ONE_FOR_ALL / REST_FOR_ONE: stop the swept siblings (reverse order), then
        start them again in order. The queue is held until the stops are done,
        and everything to restart is queued at once, so a sibling waiting for
        the sweep is never mistaken for a finished one.
        """
        queued = self._pending
        entries = [
            PlanEntry(s.spec.name, s.spec.restart, s.active or s in queued)
            for s in self.slots.values()
        ]
        plan = plan_restart(self.strategy, entries, slot.spec.name)
        victims = [self.slots[name] for name in plan.stop]
        restart = [self.slots[name] for name in plan.start]
        for victim in victims:
            inc = victim.current
            if inc is not None:
                inc.stopping = True  # its exit from here on is part of the sweep
                if victim in restart:
                    victim.sweep_restarts += 1
            if victim not in restart and victim in self._pending:
                self._pending.remove(victim)  # TEMPORARY: swept away for good
                if not victim.active:
                    # Its start will not come, and no stop will end it either
                    # (an active one settles when the sweep's stop ends it).
                    victim.settle()
        slot.pending_delay = delay
        slot.move(EXIT_SWEPT)
        self.tree.bump()
        self._hold()
        self._enqueue(restart)

        async def sweep() -> None:
            for victim in victims:
                await self.stop_slot(victim)
            self._release()

        self.submit(sweep)

    # ---- stopping ------------------------------------------------------------

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
        slot.log.debug("child_stopping", shutdown=slot.spec.shutdown)
        self.tree.bump()
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
            slot.log.error(
                "child_unstopped",
                shutdown=slot.spec.shutdown,
                reason=str(inc.cancel_reason),  # why it was cancelled
            )
            self.tree.bump()

    # ---- live changes (called through Tree) ----------------------------------

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

    def add_child(
        self, spec: NodeSpec | None, args: tuple[Any, ...], name: str | None
    ) -> Slot:
        """Add a child (from *spec*, or the dynamic template) and queue its start."""
        self.check_open()
        spec = child_to_add(
            self.spec,
            self.path,
            spec,
            args,
            name,
            count=len(self.slots),
            fresh_name=self._next_dynamic_name,
        )
        if spec.name in self.slots:
            raise ChildExists(
                f"{self.path}/{spec.name}", "a child with that name already exists"
            )
        slot = self._add_slot(spec)
        self.tree.bump()
        self._launch(slot, 0.0)  # at once, as OTP: not held by the start queue
        return slot

    def _next_dynamic_name(self, base: str) -> str:
        while True:
            self._dynamic_serial += 1
            name = f"{base}-{self._dynamic_serial}"
            if name not in self.slots:
                return name

    async def terminate(self, slot: Slot) -> None:
        """Stop *slot* and keep its spec (dynamic children are removed)."""
        self._drop_from(slot)
        await self.stop_slot(slot)
        if self.dynamic and self.slots.get(slot.spec.name) is slot:
            del self.slots[slot.spec.name]
            self.tree.bump()

    async def restart(self, slot: Slot) -> None:
        """
        Stop *slot* if it runs, then start it at once (no backoff, not counted),
        whatever the start queue holds. If it is queued, it keeps its place:
        the siblings queued after it still start after it.
        """
        self._hold()  # nothing launches it (or its later siblings) meanwhile
        try:
            await self.stop_slot(slot)
            slot.manual_restarts += 1
            slot.pending_delay = 0.0
            if not slot.active:
                self._launch(slot, 0.0)
        finally:
            self._release()

    def is_busy(self, slot: Slot) -> bool:
        """
        Running, starting, stopping, or in backoff (also the crashed child of a
        sweep, waiting in the queue to be restarted): not a stopped child, even
        one still queued behind a sibling.
        """
        return slot.active or slot.state is State.BACKOFF

    def delete(self, slot: Slot) -> None:
        if self.is_busy(slot):
            raise ChildRunning(
                slot.path,
                "is running (or about to be restarted); terminate it before deleting it",
            )
        if self.slots.get(slot.spec.name) is slot:
            del self.slots[slot.spec.name]
            self.tree.bump()
            if slot in self._pending:  # stopped, queued behind a sibling
                was_head = self._pending.head() is slot
                self._pending.remove(slot)
                if was_head:
                    self._advance()


# The incarnation wrapper and the runner that calls the child's code.
_OWN_FILES = frozenset({__file__, _runners.__file__})


def _drop_own_frames(exc: BaseException) -> None:
    # The incarnation wrapper heads every child traceback and tells the reader
    # nothing; dropping it keeps logged tracebacks to the child's own code and
    # makes them cheaper to format (trio trims its own frames the same way).
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in _OWN_FILES:
        tb = tb.tb_next
    if tb is not None:
        exc.__traceback__ = tb


def _sole(group: BaseExceptionGroup[BaseException]) -> BaseException:
    # The outer nursery only ever carries the node task's own Cancelled or
    # KeyboardInterrupt; hand it on bare, as if no nursery were there.
    if len(group.exceptions) == 1:
        return group.exceptions[0]
    return group  # pragma: no cover - would mean an internal error and a cancel at once
