"""
The runner of `Process` children: an OS process per incarnation, in a
session and process group of its own, so that a stop reaches everything it
spawned.

* ``run``: spawn it (trio's process API), drain stdout and stderr into
  ``process_output`` events for as long as anything writes to them (a full
  pipe would block the child), listen on its notify socket (``notify=True``),
  and wait for it. Exit 0 is a normal return; anything else raises
  `ProcessFailed`, a crash whose message says which (``exit_code=3``,
  ``signal=SIGSEGV``).
* ``stop``: *stop_signal* to the whole group, then the incarnation is
  cancelled; the cancelled run waits for the process to go (shielded).
* ``kill``: SIGKILL to the whole group (the supervisor calls it once the
  child's *shutdown* bound is over).

However the run ends (a stop, a watchdog cancellation, KeyboardInterrupt,
its supervisor giving up, the process exiting by itself) it ends only once
no process of its group is left: members left behind by a leader that exited
get *stop_signal*, *shutdown* seconds, then SIGKILL.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import trio

from .._errors import SupervisorError
from .._log import get_logger
from .._policy.process import ExitDescription, LineBudget, LineSplitter, describe_exit
from .._policy.states import Reason
from .._snapshot import ProcessSnapshot
from . import process_groups
from .notify_socket import NotifySocket

if TYPE_CHECKING:
    from .._process_spec import Process

#: How often the members of a group whose leader exited are looked for.
_GROUP_POLL = 0.05
#: How long output still written after the group is gone is waited for (a
#: process that left the group may hold the pipes for ever).
DRAIN_GRACE = 1.0
#: At most one notify_ignored event per child per this many seconds.
_IGNORED_EVERY = 1.0
#: Bytes read from a pipe at once, and lines handled between two checkpoints:
#: a program that writes as fast as it can (``yes``) must not hold the loop
#: for a whole 64 KiB of short lines (~10 000 events, hundreds of ms).
_READ_SIZE = 16384
_LINES_PER_CHECKPOINT = 64
#: At most one process_output_dropped event per child per this many seconds.
_DROPPED_EVERY = 1.0

LOG = get_logger("supervisor")


class ProcessFailed(SupervisorError):
    """
    A `Process` child exited with a non-zero status, or was killed by a signal.

    ``.path``, ``.exit_code`` (None if a signal killed it) and ``.signal``
    (``"SIGSEGV"``, or None) say which; the last lines of its output are in
    the snapshot (``process.output``).
    """

    def __init__(self, path: str, exit: ExitDescription) -> None:
        self.path = path
        self.exit_code = exit.exit_code
        self.signal = exit.signal
        super().__init__(f"{path}: the process ended with {exit}")


class _Slot(Protocol):
    """What the runner needs of a `Slot`."""

    path: str
    process: ProcessRecord | None
    heartbeat_timeout: float | None


class _Inc(Protocol):
    """What the runner needs of an `Incarnation`."""

    handle: object | None
    at: float

    @property
    def slot(self) -> _Slot: ...
    @property
    def running(self) -> bool: ...
    @property
    def clock(self) -> Callable[[], float]: ...
    def cancel(self, reason: Reason) -> None: ...


class _Node(Protocol):
    """What the runner tells its `Node`."""

    hub: Any  # its bump() invalidates snapshots

    def calling(self, inc: Any, start_timeout: float | None) -> None: ...
    def on_started(self, inc: Any) -> None: ...
    def extend_deadline(self, inc: Any, at: float) -> None: ...
    def heartbeat_timeout_changed(self, inc: Any, timeout: float) -> None: ...
    def watchdog_triggered(self, inc: Any) -> None: ...


class ProcessRecord:
    """What a `Process` child's slot keeps across its incarnations, for the snapshot."""

    def __init__(self, keep_lines: int) -> None:
        self.output: collections.deque[tuple[str, str]] = collections.deque(
            maxlen=keep_lines
        )
        self.pid: int | None = None
        self.exit: ExitDescription | None = None
        self.killed = False
        self.ready = False
        self.status: str | None = None
        self.stopping = False
        self.errno: int | None = None
        self.notifications = 0
        self.ignored = 0
        self.resources: Mapping[str, float] = {}
        # How its processes ended ("exit_code=3": count), and stops that came
        # to SIGKILL, over all incarnations: for metrics.
        self.exits: dict[str, int] = {}
        self.kills = 0
        # Output lines over the child's budget, not logged (all incarnations).
        self.dropped_lines = 0

    def begin(self, pid: int) -> None:
        """A new incarnation runs as *pid*; its output lines are kept (why it died before)."""
        self.pid = pid
        self.exit = None
        self.killed = self.ready = self.stopping = False
        self.status = None
        self.errno = None
        self.resources = {}

    def snapshot(self) -> ProcessSnapshot:
        return ProcessSnapshot(
            pid=self.pid,
            exit=None if self.exit is None else str(self.exit),
            killed=self.killed,
            ready=self.ready,
            status=self.status,
            stopping=self.stopping,
            errno=self.errno,
            notifications=self.notifications,
            ignored_notifications=self.ignored,
            output=tuple(self.output),
            rss=self.resources.get("rss"),
            cpu_seconds=self.resources.get("cpu_seconds"),
            open_files=self.resources.get("open_files"),
            processes=self.resources.get("processes"),
            exits=tuple(sorted(self.exits.items())),
            kills=self.kills,
            dropped_lines=self.dropped_lines,
        )


def child_env(spec: Process, notify: NotifySocket | None) -> dict[str, str]:
    env = dict(os.environ)
    # The tree's own systemd variables are not the child's (it has its own socket).
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(name, None)
    if spec.env:
        env.update(spec.env)
    if notify is not None:
        env["NOTIFY_SOCKET"] = notify.address
        if spec.heartbeat_timeout is not None:
            env["WATCHDOG_USEC"] = str(round(spec.heartbeat_timeout * 1_000_000))
    return env


# WATCHDOG_PID must be the child's own PID, known only once it is forked: a
# shell sets it to its own ($$) and then becomes the program (exec keeps the PID).
_SET_WATCHDOG_PID = ("/bin/sh", "-c", 'WATCHDOG_PID=$$ exec "$@"', "sh")


def child_argv(spec: Process) -> tuple[str, ...]:
    if spec.notify and spec.heartbeat_timeout is not None:
        return (*_SET_WATCHDOG_PID, *spec.argv)
    return spec.argv


class ProcessHandle:
    """One incarnation's process: its group, and how far its stop has gone."""

    def __init__(self, proc: trio.Process, spec: Process, slot: _Slot) -> None:
        self.proc = proc
        self.pgid = proc.pid  # a session leader's group is its PID
        self.spec = spec
        self.slot = slot
        # Bound per process (few children, many events: output lines).
        self.log = LOG.bind(path=slot.path)
        record = slot.process
        assert record is not None
        self.record = record
        self.signalled = False
        self.killed = False
        # When a stop turns into SIGKILL; moved later by EXTEND_TIMEOUT_USEC.
        self.stop_scope: trio.CancelScope | None = None
        self.start_deadline: float | None = None
        self.open_pipes = 2
        self.pipes_closed = trio.Event()
        self._io_scopes: list[trio.CancelScope] = []
        self._ignored_logged_at = -float("inf")
        self._ignored_since = 0
        # Shared by stdout and stderr: the budget is the child's.
        self.budget = LineBudget(spec.max_lines_per_second, trio.current_time())
        self._dropped_logged_at = -float("inf")
        self._dropped_reported = 0

    # ---- signals -------------------------------------------------------------

    def signal_group(self, number: int) -> bool:
        """Send *number* to every process of the group; False if none is left."""
        try:
            os.killpg(self.pgid, number)
        except ProcessLookupError:
            return False
        except PermissionError:  # a member changed user: it still exists
            return True
        return True

    def stop(self) -> None:
        if not self.signalled:
            self.signalled = True
            self.signal_group(self.spec.stop_signal)

    def kill(self) -> bool:
        """SIGKILL the group; whether anything was left to kill."""
        if self.signal_group(signal.SIGKILL):
            if not self.killed:
                self.killed = self.record.killed = True
                self.record.kills += 1
                self.log.warning(
                    "process_killed", pid=self.pgid, shutdown=self.spec.shutdown
                )
            return True
        return False

    # ---- the end of the run --------------------------------------------------

    async def finish(self) -> None:
        """Shielded: end the leader (if it still runs), then the rest of the group."""
        proc = self.proc
        if proc.returncode is None:
            self.stop()
            with trio.move_on_after(self.spec.shutdown) as self.stop_scope:
                await proc.wait()
            if proc.returncode is None:
                self.kill()
                await proc.wait()
        assert proc.returncode is not None
        process_groups.waited(proc.pid)  # reaped: a zombie with its PID is not ours
        exit = self.record.exit = describe_exit(proc.returncode)
        exits = self.record.exits
        exits[str(exit)] = exits.get(str(exit), 0) + 1
        self.log.info("process_exited", pid=proc.pid, exit=str(exit))
        await self._clear_group()

    async def _clear_group(self) -> None:
        if not group_alive(self.pgid):
            return
        if not self.killed:
            # Left behind by a leader that exited: asked first, as the leader was.
            self.signal_group(self.spec.stop_signal)
            with trio.move_on_after(self.spec.shutdown):
                while group_alive(self.pgid):  # noqa: ASYNC110 - not our children: no event to wait on
                    await trio.sleep(_GROUP_POLL)
        if group_alive(self.pgid):
            self.kill()
            # SIGKILL cannot be ignored; only its delivery is awaited.
            with trio.move_on_after(self.spec.shutdown):
                while group_alive(self.pgid):  # noqa: ASYNC110 - not our children: no event to wait on
                    await trio.sleep(_GROUP_POLL)

    def extend(self, now: float, seconds: float, node: _Node, inc: _Inc) -> None:
        """EXTEND_TIMEOUT_USEC: the start or stop deadline is at least *seconds* away."""
        at = now + seconds
        scope = self.stop_scope
        if scope is not None:
            if at > scope.deadline:
                scope.deadline = at
                node.extend_deadline(inc, at)
        elif (
            not inc.running
            and self.start_deadline is not None
            and at > self.start_deadline
        ):
            self.start_deadline = at
            node.extend_deadline(inc, at)

    # ---- output and notifications ---------------------------------------------

    async def shielded(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Run ``fn(*args)`` shielded from the incarnation's cancellation, until `end_io`."""
        with trio.CancelScope(shield=True) as scope:
            self._io_scopes.append(scope)
            await fn(*args)

    def end_io(self) -> None:
        for scope in self._io_scopes:
            scope.cancel()

    async def pump(self, stream: trio.abc.ReceiveStream | None, name: str) -> None:
        """Turn *stream* into ``process_output`` events until it closes."""
        if stream is None:
            return
        splitter = LineSplitter(self.spec.max_line)
        try:
            async with stream:
                while chunk := await stream.receive_some(_READ_SIZE):
                    now = trio.current_time()
                    lines = splitter.feed(chunk)
                    for handled, (line, truncated) in enumerate(lines, 1):
                        self._line(name, line, truncated, now)
                        if handled % _LINES_PER_CHECKPOINT == 0:
                            await trio.lowlevel.checkpoint()
                            now = trio.current_time()
                    self._report_dropped(now, final=False)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            now = trio.current_time()
            for line, truncated in splitter.close():
                self._line(name, line, truncated, now)
            self.open_pipes -= 1
            if not self.open_pipes:
                self.pipes_closed.set()
                self._report_dropped(now, final=True)

    def _line(self, name: str, line: str, truncated: bool, now: float) -> None:
        # Kept for the snapshot even over the budget (a deque append is cheap;
        # the last lines say why it died).
        self.record.output.append((name, line))
        if self.budget.allow(now):
            self.log.info("process_output", stream=name, line=line, truncated=truncated)
        else:
            self.record.dropped_lines += 1

    def _report_dropped(self, now: float, *, final: bool) -> None:
        """process_output_dropped: at most once per `_DROPPED_EVERY`, and once at the end."""
        unreported = self.budget.dropped - self._dropped_reported
        if not unreported:
            return
        if final or now - self._dropped_logged_at >= _DROPPED_EVERY:
            self.log.warning(
                "process_output_dropped",
                dropped=unreported,
                max_lines_per_second=self.spec.max_lines_per_second,
            )
            self._dropped_logged_at = now
            self._dropped_reported = self.budget.dropped

    def ignored(self, now: float, why: str) -> None:
        """A datagram was ignored: logged at most once per `_IGNORED_EVERY`, with a count."""
        self.record.ignored += 1
        self._ignored_since += 1
        if now - self._ignored_logged_at >= _IGNORED_EVERY:
            self.log.warning("notify_ignored", why=why, ignored=self._ignored_since)
            self._ignored_logged_at = now
            self._ignored_since = 0


def group_alive(pgid: int) -> bool:
    """Does a process of group *pgid* still run (zombies, which only wait to be reaped, do not)?"""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    import psutil  # noqa: PLC0415 - lazily: only a group that outlived its leader needs it

    # getpgid is one system call per PID; a process is only read for members.
    for pid in psutil.pids():
        try:
            if os.getpgid(pid) != pgid:
                continue
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return True
        except (OSError, psutil.Error):
            continue  # it exited meanwhile
    return False


async def spawn(spec: Process, notify: NotifySocket | None) -> trio.Process:
    # Imported here, before any stop needs it (`group_alive`): its first import
    # costs tens of milliseconds, which a stop bound should not pay.
    import psutil  # noqa: F401, PLC0415

    proc = await trio.lowlevel.open_process(
        child_argv(spec),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=child_env(spec, notify),
        cwd=spec.cwd,
    )
    # Before any checkpoint: a forced exit or the reaper may look at once.
    process_groups.spawned(proc.pid)
    return proc
