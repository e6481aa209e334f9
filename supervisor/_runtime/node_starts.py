"""
The start layer of a supervisor node (`Node`): the start queue, launching an
incarnation and running it, what a runner calls while its child starts, and
the live changes control calls make (add, terminate, restart, delete).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import trio

from .._errors import (
    ChildExists,
    ChildRunning,
    TooManyRestarts,
)
from .._policy.lifecycle import (
    BACKOFF_WAIT,
    CALLED,
    DEQUEUED,
    ELECTED,
    LAUNCH,
    RELAUNCH,
    RELAUNCH_LATER,
    STANDBY_WAIT,
    STARTED,
)
from .._snapshot import ExitInfo, Reason, State
from .._spec import (
    NodeSpec,
    SupervisorSpec,
    child_to_add,
)
from . import runners as _runners
from .node_state import NodeState
from .runners import ChildNode
from .slot import (
    CURRENT,
    Incarnation,
    Slot,
    TaskStatus,
)

# Cancellations by the watchdog: the reason an incarnation ended, whatever
# the child does once cancelled.
_WATCHDOG_REASONS = (Reason.START_TIMEOUT, Reason.HEARTBEAT_TIMEOUT)


class NodeStarts(NodeState):
    """How a node starts its children, and changes them live (see `Node`)."""

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
        self.hub.bump()
        self._advance()  # an emptied queue: the node counts as started

    def _launch(self, slot: Slot, delay: float, *, relaunch: bool = False) -> None:
        # relaunch: it replaces the incarnation of *slot* that just ended.
        inc = self._incarnate(slot, delay, relaunch=relaunch)
        if inc is not None:
            assert self._nursery is not None  # _incarnate checked it
            # Its task's context is a copy of the supervisor's, not of the
            # exiting child's whose exit launched it (start_soon copies the
            # context it is called in).
            self._context.run(self._nursery.start_soon, self._incarnation, inc, delay)

    def _incarnate(
        self,
        slot: Slot,
        delay: float,
        *,
        relaunch: bool,
        scope: trio.CancelScope | None = None,
    ) -> Incarnation | None:
        """*slot*'s next incarnation (None: it must not run again), not yet run."""
        if self.closing or self._nursery is None:
            return None
        if self.slots.get(slot.spec.name) is not slot:
            # Removed (terminated dynamic child, deleted): a launch now would
            # run a copy no snapshot shows and no stop reaches.
            return None
        inc = slot.current = Incarnation(
            slot,
            self._beat_clock,
            trio.Event() if slot.graceful else None,
            self._now() + delay if delay > 0 else None,
            scope,
        )
        if delay > 0:
            slot.move(RELAUNCH_LATER if relaunch else BACKOFF_WAIT)
        else:
            slot.move(RELAUNCH if relaunch else LAUNCH)
        self.hub.bump()
        return inc

    # One function, branches and all: the restart path is the hot path, and a
    # helper coroutine per run would cost a frame and an await per restart.
    async def _incarnation(self, inc: Incarnation, delay: float) -> None:  # noqa: PLR0912
        """
        Run *inc*, and the incarnations after it that a crash restarts alone:
        those go on in this task, inside the same cancel scope (a crash never
        cancels it), which halves what a restart costs. Any other exit (a
        return, a cancellation, a restart by a sweep) ends the task; so does a
        cancelled scope, whose successor gets a fresh one in a task of its own.
        """
        scope = inc.scope
        exit_info: ExitInfo | None = None
        handled = False  # the exit of *inc* went through on_exit already
        try:
            with scope:
                while True:
                    if delay > 0:
                        await trio.sleep(delay)
                    else:
                        # A child that crashes before its first checkpoint would
                        # otherwise make this restart loop uncancellable.
                        await trio.lowlevel.checkpoint_if_cancelled()
                    CURRENT.set(inc)
                    try:
                        await inc.slot.runner.run(self, inc, inc.slot.spec)
                    except Exception as exc:
                        if scope.cancel_called:
                            raise  # a crash once cancelled: handled below
                        inc.end()
                        handled = True
                        nxt = self.on_exit(inc, self._crashed(inc, exc), scope)
                        if nxt is None:
                            return
                        (inc, delay), handled = nxt, False
                        # A restarted child starts from its supervisor's
                        # context, as a new task would, not from what the
                        # crashed run set (trio runs each step of a task in
                        # Task.context, so the next step after a yield does).
                        trio.lowlevel.current_task().context = self._context.copy()
                        if delay <= 0:
                            # A real schedule point: a crash loop must not
                            # starve the other tasks (a new task would queue).
                            await trio.lowlevel.cancel_shielded_checkpoint()
                        continue
                    break
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
            self.hub.abort(exc)
        finally:
            if not handled:
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
        self.hub.count_crash(reason)
        self.log.warning(
            "child_crashed",
            path=slot.path,
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

    def calling(self, inc: Incarnation, start_timeout: float | None) -> None:
        """*inc*'s code is called and it is not started yet: its start is timed."""
        inc.slot.move(CALLED)
        inc.next_start_at = None
        self.hub.bump()
        if start_timeout is not None:
            inc.start_timer = self._watchdog.call_at(
                self._now() + start_timeout, self._start_overdue, inc
            )

    def task_status(self, inc: Incarnation) -> TaskStatus:
        """The ``task_status`` that makes *inc* count as started."""
        return TaskStatus(self, inc)

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
            self.log.info("child_started", path=slot.path)
        else:
            self.log.info(
                "child_restarted",
                path=slot.path,
                starts=slot.starts,
                restarts=slot.restarts,
            )
        self.hub.bump()
        self._start_settled(slot)

    def _start_settled(self, slot: Slot) -> None:
        """*slot* counts as started: the start queue moves on, its waiters wake."""
        pending = self._pending
        if pending and pending.head() is slot:
            pending.pop_head()
            self._advance()
        if slot.waiters:
            slot.settle()

    def standby(self, inc: Incarnation) -> None:
        """
        *inc*, a fleet singleton (`singleton`), waits for its election: it
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
        self.hub.bump()
        self._start_settled(slot)

    def elected(self, inc: Incarnation) -> None:
        """*inc*, in standby, won its election: its code is started now."""
        if inc.slot.current is inc and not inc.stopping:
            inc.slot.move(ELECTED)
            self.hub.bump()

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
        self.hub.bump()
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
            self.hub.bump()

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
            self.hub.bump()
            if slot in self._pending:  # stopped, queued behind a sibling
                was_head = self._pending.head() is slot
                self._pending.remove(slot)
                if was_head:
                    self._advance()

    # Defined by the layer above (`Node`), called from this one.

    def on_exit(
        self,
        inc: Incarnation,
        exit_info: ExitInfo | None,
        scope: trio.CancelScope | None = None,
    ) -> tuple[Incarnation, float] | None:
        """*inc* ended: decided and applied by `Node.on_exit`."""
        raise NotImplementedError

    def child_node(self, inc: Incarnation, spec: SupervisorSpec) -> ChildNode:
        """The node that runs supervisor child *spec* (`Node.child_node`)."""
        raise NotImplementedError


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
