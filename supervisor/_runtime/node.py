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

import contextvars

import trio

from .._errors import (
    TooManyRestarts,
)
from .._policy.exits import (
    ENDED,
    ENDED_AUTO_SHUTDOWN,
    ESCALATE,
    RESTART_ALONE,
    STOPPED_CRASHED,
    STOPPED_RETURNED,
    decide_exit,
)
from .._policy.lifecycle import (
    DEQUEUED,
    EXIT_FAILED,
    EXIT_STOPPED,
    EXIT_SWEPT,
)
from .._policy.strategy import PlanEntry, plan_restart
from .._snapshot import ExitInfo, Reason
from .._spec import (
    AutoShutdown,
    SupervisorSpec,
)
from .node_starts import NodeStarts
from .slot import (
    Incarnation,
    Slot,
    StartedHandle,
)

# Bound once for on_exit: an enum member lookup costs ~0.08 us on Python 3.11.
_ESCALATED, _NORMAL = Reason.ESCALATED, Reason.NORMAL


class Node(NodeStarts):
    """
    A running supervisor node (static or dynamic): its life, and what an exit
    of a child leads to. Built in three layers, one module each: `NodeState`
    (state, control task, timers, stops), `NodeStarts` (start queue,
    incarnations, live changes) and this one.
    """

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
                    if self.failure is None and not self.hub.aborted:
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
        # The context every incarnation starts from (see NodeStarts._launch).
        self._context = contextvars.copy_context()
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
        self.hub.bump()
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

    def child_node(self, inc: Incarnation, spec: SupervisorSpec) -> Node:
        """The node that runs supervisor child *spec* for *inc*."""
        node = inc.slot.node = Node(spec, inc.slot.path, self.hub)
        return node

    def on_exit(
        self,
        inc: Incarnation,
        exit_info: ExitInfo | None,
        scope: trio.CancelScope | None = None,
    ) -> tuple[Incarnation, float] | None:
        """
        *inc* ended: ask the policy, then apply its decision. With *scope* (the
        uncancelled scope of a crashed incarnation), a restart alone is not
        launched but returned, with its delay, to run in the caller's task.
        """
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
            return None
        assert exit_info is not None  # the policy stops an incarnation without one
        slot.last_exit = exit_info
        reason = exit_info.reason
        if reason is _ESCALATED:
            slot.gave_up += 1
        if reason is _NORMAL:
            self.log.info("child_exited", path=slot.path)
        elif exit_info.exc_type is None:  # a timeout (exceptions: see _crashed)
            self._timed_out(slot, exit_info)
        if kind in (ENDED, ENDED_AUTO_SHUTDOWN):
            self._ended(slot, exit_info, auto_shutdown=kind == ENDED_AUTO_SHUTDOWN)
            return None
        if kind == ESCALATE:
            slot.move(EXIT_FAILED)
            self.hub.bump()
            self._escalate(exit_info)
            return None
        by_reason = slot.restarts_by_reason
        by_reason[reason] = by_reason.get(reason, 0) + 1
        self.log.info(
            "child_restart_scheduled",
            path=slot.path,
            delay=delay,
            attempt=slot.schedule.attempt,
        )
        if kind != RESTART_ALONE:
            self._sweep(slot, delay)
        elif scope is None:
            self._launch(slot, delay, relaunch=True)
        else:
            nxt = self._incarnate(slot, delay, relaunch=True, scope=scope)
            return None if nxt is None else (nxt, delay)
        return None

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
        self.hub.count_crash(exit_info.reason)
        self.log.warning("child_crashed", path=slot.path, reason=str(exit_info.reason))

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
            self.log.info("child_stopped", path=slot.path)
        elif kind == STOPPED_RETURNED:
            # As in OTP, only a child the supervisor stopped ends with ``shutdown``.
            slot.last_exit = exit_info
            self.log.info("child_exited", path=slot.path)
        else:
            # Stopped on purpose: readiness and dashboards must tell this from
            # "never started" (no exit at all) and from an older crash.
            slot.last_exit = ExitInfo(reason=Reason.SHUTDOWN, time=now)
            self.log.info("child_stopped", path=slot.path)
        self.hub.bump()

    def _ended(self, slot: Slot, exit_info: ExitInfo, *, auto_shutdown: bool) -> None:
        """*slot* ended for good (its restart type says so)."""
        slot.move(EXIT_FAILED if exit_info.abnormal else EXIT_STOPPED)
        self._drop_pending(slot)
        self.hub.bump()
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
        self.hub.bump()
        self._hold()
        self._enqueue(restart)

        async def sweep() -> None:
            for victim in victims:
                await self.stop_slot(victim)
            self._release()

        self.submit(sweep)


def _sole(group: BaseExceptionGroup[BaseException]) -> BaseException:
    # The outer nursery only ever carries the node task's own Cancelled or
    # KeyboardInterrupt; hand it on bare, as if no nursery were there.
    if len(group.exceptions) == 1:
        return group.exceptions[0]
    return group  # pragma: no cover - would mean an internal error and a cancel at once
