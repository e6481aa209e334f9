"""
What a `Process` child's processes use, read with psutil (imported lazily):
resident memory, CPU time and open descriptors of the process and all its
descendants, sampled every `SAMPLE_EVERY` seconds while it runs. A child with
``max_rss`` over it is restarted as a crash (`ProcessOverMemory`).

Finding a process's descendants takes a scan of the whole process table
(about a millisecond per few hundred processes). It is done once per period
for all the tree's `Process` children (a `_Sampler` per trio run, its table
reused for half a period), and, with the reads of each child's own
processes, in a worker thread (one at a time): the event loop pays neither.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import trio

from .._errors import SupervisorError
from .._policy.states import Reason

if TYPE_CHECKING:
    from .process import ProcessHandle

#: Seconds between two samples of one child's processes.
SAMPLE_EVERY = 2.0


class ProcessOverMemory(SupervisorError):
    """A `Process` child's processes used more resident memory than its *max_rss*."""

    def __init__(self, path: str, rss: int, max_rss: int) -> None:
        self.path = path
        self.rss = rss
        self.max_rss = max_rss
        super().__init__(
            f"{path}: its processes use {rss} bytes of resident memory, "
            f"over its max_rss of {max_rss}"
        )


class _Sampler:
    """The tree's shared view of the process table: which processes each process started."""

    def __init__(self) -> None:
        # One worker thread at a time: the table and psutil's own cache are shared.
        self.limiter = trio.CapacityLimiter(1)
        self.scans = 0  # table scans so far (tests, benchmarks)
        self._children: dict[int, list[int]] = {}
        self._scanned_at = -math.inf

    def sample(self, pid: int, now: float) -> dict[str, float] | None:
        """In a worker thread: RSS (bytes), CPU (s), open descriptors and count of *pid*'s processes."""
        import psutil  # noqa: PLC0415 - lazily: only Process children need it

        if now - self._scanned_at >= SAMPLE_EVERY / 2:
            self._children = _children_table(psutil)
            self._scanned_at = now
            self.scans += 1
        rss = cpu = fds = 0.0
        counted = 0
        for member in self._members(pid):
            try:
                process = psutil.Process(member)
                with process.oneshot():
                    rss += process.memory_info().rss
                    times = process.cpu_times()
                    cpu += times.user + times.system
                    fds += process.num_fds()
            except psutil.Error:
                if member == pid:
                    return None  # it exited meanwhile
                continue  # gone, or not ours to read (it changed user)
            counted += 1
        return {"rss": rss, "cpu_seconds": cpu, "open_files": fds, "processes": counted}

    def _members(self, pid: int) -> list[int]:
        """*pid* and its descendants, as of the last scan (a newer one is missed until the next)."""
        members = [pid]
        seen = {pid}
        for member in members:  # grows while walked: breadth first
            for child in self._children.get(member, ()):
                if child not in seen:
                    seen.add(child)
                    members.append(child)
        return members


def _children_table(psutil: Any) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for process in psutil.process_iter(["ppid"]):
        ppid = process.info["ppid"]
        if ppid is not None:
            children.setdefault(ppid, []).append(process.pid)
    return children


_SAMPLER: trio.lowlevel.RunVar[_Sampler] = trio.lowlevel.RunVar("process_sampler")


def sampler() -> _Sampler:
    """This trio run's sampler (a run's, so none outlives its tree)."""
    try:
        return _SAMPLER.get()
    except LookupError:
        made = _Sampler()
        _SAMPLER.set(made)
        return made


async def sample(pid: int) -> dict[str, float] | None:
    """*pid*'s processes' facts, read in a worker thread."""
    shared = sampler()
    return await trio.to_thread.run_sync(
        shared.sample,
        pid,
        trio.current_time(),
        limiter=shared.limiter,
        abandon_on_cancel=True,  # it only reads /proc: nothing to undo
    )


async def watch(inc: Any, handle: ProcessHandle) -> None:
    """Sample *handle*'s processes into its record; over ``max_rss``, crash it."""
    limit = handle.spec.max_rss
    while True:
        # First after one period: a process that exits at once (a crash loop)
        # costs no scan of the process table.
        await trio.sleep(SAMPLE_EVERY)
        facts = await sample(handle.proc.pid)
        if facts is not None:
            handle.record.resources = facts
            rss = int(facts["rss"])
            if limit is not None and rss > limit and inc.cancel_reason is None:
                handle.log.warning("process_over_memory", rss=rss, max_rss=limit)
                # The cancellation stands for this error: a crash, restarted
                # with backoff (the supervisor's seam for supervisor.testing.crash).
                inc.error = ProcessOverMemory(handle.slot.path, rss, limit)
                inc.cancel(Reason.CRASH)
                return
