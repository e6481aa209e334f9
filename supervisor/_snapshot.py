"""
Snapshots: immutable, JSON-serialisable views of a running tree.

Built on demand from the runtime's state (never per event), so inspecting a
tree costs nothing while nobody looks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import attrs

from ._policy.states import Reason, State
from ._safe import safe_str

# State and Reason are the policy's words, re-exported for the runtime.
__all__ = [
    "ExitInfo",
    "NodeSnapshot",
    "ProcessSnapshot",
    "Reason",
    "State",
    "TreeSnapshot",
]

_TRACEBACK_FRAMES = 8  # enough to find the raising frame; bounded memory per child


def _summary(exc: BaseException) -> tuple[str, ...]:
    # Walks the frames by hand: traceback.extract_tb reads source lines through
    # linecache, too slow for a path taken on every crash.
    tb = exc.__traceback__
    frames = []
    while tb is not None:
        frames.append(tb)
        tb = tb.tb_next
    return tuple(
        f"{t.tb_frame.f_code.co_filename}:{t.tb_lineno} in {t.tb_frame.f_code.co_name}"
        for t in frames[-_TRACEBACK_FRAMES:]
    )


class ExitInfo(NamedTuple):
    """
    How one incarnation of a child ended.

    A NamedTuple rather than a frozen attrs class: one is built on every crash,
    and a tuple is built five times faster (see benchmarks/bench_restart.py).
    """

    reason: Reason
    time: float  # trio clock
    exc_type: str | None = None  # qualified name, e.g. "builtins.ValueError"
    # str(exc), at most MAX_TEXT characters; "<unprintable E object>" if str() raised
    exc_message: str | None = None
    traceback: tuple[str, ...] = ()  # innermost frames last, "file:line in func"

    @property
    def abnormal(self) -> bool:
        """Exits that make a TRANSIENT child restart: anything but a return or a stop."""
        return self.reason is not Reason.NORMAL and self.reason is not Reason.SHUTDOWN

    @classmethod
    def from_exception(
        cls, reason: Reason, time: float, exc: BaseException
    ) -> ExitInfo:
        kind = type(exc)
        return cls(
            reason,
            time,
            f"{kind.__module__}.{kind.__qualname__}",
            safe_str(exc),
            _summary(exc),
        )

    def describe(self) -> str:
        """One line for humans: ``crash: builtins.ValueError: boom``."""
        if self.exc_type is None:
            return str(self.reason)
        return f"{self.reason}: {self.exc_type}: {self.exc_message}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "reason": str(self.reason),
            "time": self.time,
            "exc_type": self.exc_type,
            "exc_message": self.exc_message,
            "traceback": list(self.traceback),
        }


@attrs.frozen(kw_only=True)
class EventLoopHealth:
    """The loop watcher's view, in snapshots."""

    threshold: float | None  # seconds; None: not watched
    blocked: bool  # blocked right now
    blocked_count: int  # times it was found blocked
    blocked_seconds_total: float  # over all blocks that ended, plus the current one
    logging_errors: int = 0  # events the watcher could not log (the logger raised)

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


UNWATCHED = EventLoopHealth(
    threshold=None, blocked=False, blocked_count=0, blocked_seconds_total=0.0
)


@attrs.frozen(kw_only=True)
class ProcessSnapshot:
    """What a `Process` child's OS process is doing (or did last)."""

    pid: int | None  # its current (or last) process
    exit: str | None  # how the last one ended: "exit_code=3", "signal=SIGSEGV"
    killed: bool  # its stop came to SIGKILL
    ready: bool  # notify: READY=1 received
    status: str | None  # notify: the last STATUS=
    stopping: bool  # notify: STOPPING=1 received
    errno: int | None  # notify: the last ERRNO=
    notifications: int  # datagrams acted on (all incarnations)
    ignored_notifications: int  # datagrams ignored (stranger, malformed, unknown)
    output: tuple[tuple[str, str], ...]  # the last lines, (stream, line), oldest first
    rss: float | None = None  # bytes, the process and its descendants (psutil)
    cpu_seconds: float | None = None  # user + system, the same processes
    open_files: float | None = None  # open descriptors, the same processes
    processes: float | None = None  # how many processes that is
    exits: tuple[tuple[str, int], ...] = ()  # how its processes ended, counted
    kills: int = 0  # stops that came to SIGKILL
    dropped_lines: int = 0  # output lines over max_lines_per_second, not logged

    def as_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "exit": self.exit,
            "killed": self.killed,
            "ready": self.ready,
            "status": self.status,
            "stopping": self.stopping,
            "errno": self.errno,
            "notifications": self.notifications,
            "ignored_notifications": self.ignored_notifications,
            "output": [{"stream": s, "line": line} for s, line in self.output],
            "rss": self.rss,
            "cpu_seconds": self.cpu_seconds,
            "open_files": self.open_files,
            "processes": self.processes,
            "exits": dict(self.exits),
            "kills": self.kills,
            "dropped_lines": self.dropped_lines,
        }


@attrs.frozen(kw_only=True)
class NodeSnapshot:
    """One node of the tree: a worker or a supervisor, with its children."""

    path: str
    name: str
    kind: str  # "worker", "process", "supervisor" or "dynamic_supervisor"
    state: State
    restart: str  # the node's restart type, e.g. "permanent"
    significant: bool
    starts: int  # times it counted as started
    # Restarts scheduled after its own exit (a crash, a timeout, a return of a
    # PERMANENT child): the ones counted against intensity, by exit reason in
    # restarts_by_reason. Not those below, nor the first start.
    restarts: int
    last_exit: ExitInfo | None
    started_at: float | None  # trio clock, current incarnation
    uptime: float | None  # seconds in the current incarnation while running
    next_start_at: float | None  # trio clock, while in backoff
    heartbeat_timeout: float | None = None  # workers with a heartbeat only
    heartbeat_age: float | None = None  # seconds since the last beat, while running
    missed_heartbeats: int = 0  # incarnations cancelled for a missed beat
    restarts_by_reason: tuple[tuple[str, int], ...] = ()  # (exit reason, restarts)
    # Stopped and started again because a sibling's exit swept it (ONE_FOR_ALL,
    # REST_FOR_ONE); not counted against intensity (the sibling's exit was).
    sweep_restarts: int = 0
    manual_restarts: int = 0  # started again by restart_child (or /control)
    intensity_exceeded: int = 0  # supervisors: times it gave up (TooManyRestarts)
    strategy: str | None = None  # supervisors only
    children: tuple[NodeSnapshot, ...] = ()
    process: ProcessSnapshot | None = None  # `Process` children only

    def walk(self) -> Iterator[NodeSnapshot]:
        """This node, then every descendant, depth first in start order."""
        yield self
        for child in self.children:
            yield from child.walk()

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "name": self.name,
            "kind": self.kind,
            "state": str(self.state),
            "restart": self.restart,
            "significant": self.significant,
            "starts": self.starts,
            "restarts": self.restarts,
            "last_exit": None if self.last_exit is None else self.last_exit.as_dict(),
            "started_at": self.started_at,
            "uptime": self.uptime,
            "next_start_at": self.next_start_at,
            "heartbeat_timeout": self.heartbeat_timeout,
            "heartbeat_age": self.heartbeat_age,
            "missed_heartbeats": self.missed_heartbeats,
            "restarts_by_reason": dict(self.restarts_by_reason),
            "sweep_restarts": self.sweep_restarts,
            "manual_restarts": self.manual_restarts,
            "intensity_exceeded": self.intensity_exceeded,
            "strategy": self.strategy,
            "children": [c.as_dict() for c in self.children],
            "process": None if self.process is None else self.process.as_dict(),
        }


@attrs.frozen(kw_only=True)
class TreeSnapshot:
    """
    The whole tree at one moment.

    *version* changes whenever anything in the tree changes, so a poller can
    skip work when it has not.
    """

    version: int
    time: float  # trio clock when taken
    root: NodeSnapshot
    event_loop: EventLoopHealth = UNWATCHED
    # Every crash in the tree since it started, by reason; never reset.
    crashes: tuple[tuple[str, int], ...] = ()
    # The tree's own machinery (HTTP server, check runners): the `_system`
    # supervisor, None when there is none. Not part of `walk`, nor of any verdict.
    system: NodeSnapshot | None = None

    def node(self, path: str) -> NodeSnapshot:
        """The node at *path* (``root/db/pool``, or ``_system/http``); LookupError if there is none."""
        for top in (self.root, self.system):
            for node in top.walk() if top is not None else ():
                if node.path == path:
                    return node
        raise LookupError(f"no node at {path!r} in this snapshot")

    def walk(self) -> Iterator[NodeSnapshot]:
        """Every node of the user's tree, depth first in start order (not `system`)."""
        return self.root.walk()

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "time": self.time,
            "event_loop": self.event_loop.as_dict(),
            "crashes": dict(self.crashes),
            "root": self.root.as_dict(),
            "system": None if self.system is None else self.system.as_dict(),
        }
