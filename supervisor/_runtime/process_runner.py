"""
`ProcessRunner`: the row of `_runners.KINDS` for `Process` children (run,
stop, kill; see `process` for the process handling and `_runners` for the
runner interface), and what a child's notify datagrams do to its incarnation.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import trio

from .._policy.notify import Notification, parse_notification
from .._policy.states import Reason
from . import process_groups
from .notify_socket import NotifySocket
from .process import DRAIN_GRACE, ProcessFailed, ProcessHandle, ProcessRecord, spawn
from .process_facts import watch

if TYPE_CHECKING:
    from .._process_spec import Process
    from .process import _Inc, _Node

_SHUTDOWN = Reason.SHUTDOWN


class ProcessRunner:
    """A `Process`: an OS process per incarnation (see `supervisor._runtime.process`)."""

    async def run(self, node: Any, inc: Any, spec: Process) -> None:
        # Typed by what this runner needs of them (more than `Runner` says).
        await self._run(node, inc, spec)

    async def _run(self, node: _Node, inc: _Inc, spec: Process) -> None:
        slot = inc.slot
        if slot.process is None:
            slot.process = ProcessRecord(spec.keep_lines)
        # WATCHDOG_USEC= from an earlier incarnation does not carry over.
        slot.heartbeat_timeout = spec.heartbeat_timeout
        async with AsyncExitStack() as stack:
            notify = None
            if spec.notify:
                notify = await NotifySocket.open()
                stack.callback(notify.close)
                node.calling(inc, spec.start_timeout)
            proc = await spawn(spec, notify)
            try:
                slot.process.begin(proc.pid)
                handle = ProcessHandle(proc, spec, slot)
                inc.handle = handle
                handle.log.debug("process_spawned", pid=proc.pid)
                await self._supervise(node, inc, handle, notify)
            finally:
                # Its group is cleared (or this run is over): no forced exit needs it.
                process_groups.cleared(proc.pid)
        exit = slot.process.exit
        assert exit is not None
        if not exit.normal and not handle.signalled:
            raise ProcessFailed(slot.path, exit)

    async def _supervise(
        self, node: _Node, inc: _Inc, handle: ProcessHandle, notify: NotifySocket | None
    ) -> None:
        proc = handle.proc
        async with trio.open_nursery() as io:
            # Shielded: a stopping process still writes, and still notifies
            # (STOPPING=1, EXTEND_TIMEOUT_USEC=); closed pipes would kill it
            # with SIGPIPE. They end once its group is gone.
            io.start_soon(handle.shielded, handle.pump, proc.stdout, "stdout")
            io.start_soon(handle.shielded, handle.pump, proc.stderr, "stderr")
            io.start_soon(watch, inc, handle)
            try:
                if notify is None:
                    node.on_started(inc)
                else:
                    handle.start_deadline = (
                        trio.current_time() + handle.spec.start_timeout
                    )
                    io.start_soon(
                        handle.shielded, self._listen, node, inc, handle, notify
                    )
                await proc.wait()
            finally:
                # Also when cancelled (a stop, a timeout, Ctrl-C): the run ends
                # only once no process of its group is left.
                with trio.CancelScope(shield=True):
                    await handle.finish()
                    with trio.move_on_after(min(DRAIN_GRACE, handle.spec.shutdown / 2)):
                        await handle.pipes_closed.wait()
                handle.end_io()
                io.cancel_scope.cancel()  # the resource sampler

    def stop(self, inc: Any) -> None:
        handle = inc.handle
        if isinstance(handle, ProcessHandle):
            handle.stop()
        inc.cancel(_SHUTDOWN)  # the cancelled run waits for the group to go

    def kill(self, inc: Any) -> bool:
        handle = inc.handle
        if not isinstance(handle, ProcessHandle):
            return False  # not spawned yet: nothing harder than the cancellation
        # Also when its own bound killed it a moment ago, or only its group is
        # left: SIGKILL ends it within one more bound.
        handle.kill()
        return True

    # ---- the notify protocol -------------------------------------------------

    async def _listen(
        self, node: _Node, inc: _Inc, handle: ProcessHandle, notify: NotifySocket
    ) -> None:
        pid = handle.proc.pid
        while True:
            data, allowed = await notify.receive(pid)
            now = trio.current_time()
            if not allowed:
                handle.ignored(now, "sender is not the process or a descendant")
                continue
            message = parse_notification(data)
            if message.problem is not None:
                handle.ignored(now, message.problem)
                continue
            if message.malformed or message.unknown:
                handle.ignored(now, "unknown or unreadable assignments")
            if not message.says_nothing:
                self._apply(node, inc, handle, message, now)

    def _apply(
        self,
        node: _Node,
        inc: _Inc,
        handle: ProcessHandle,
        message: Notification,
        now: float,
    ) -> None:
        record = handle.record
        record.notifications += 1
        log = handle.log
        if message.watchdog and inc.running:
            inc.at = inc.clock()  # what heartbeat() stores
        if message.status is not None and message.status != record.status:
            record.status = message.status
            node.hub.bump()
        if message.extend_timeout_usec is not None:
            handle.extend(now, message.extend_timeout_usec / 1e6, node, inc)
        if message.watchdog_usec is not None:
            node.heartbeat_timeout_changed(inc, message.watchdog_usec / 1e6)
        if message.errno is not None:
            record.errno = message.errno
            log.warning("notify_errno", errno=message.errno)  # not a death by itself
        if message.stopping and not record.stopping:
            record.stopping = True
            node.hub.bump()
        if message.ready and not record.ready:
            record.ready = True
            node.on_started(inc)
        if message.trigger:
            log.warning("notify_watchdog_trigger")
            node.watchdog_triggered(inc)


PROCESS = ProcessRunner()
