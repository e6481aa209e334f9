"""
What a `Process` child's processes use, read with psutil (imported lazily):
resident memory, CPU time and open descriptors of the process and all its
descendants, sampled every `SAMPLE_EVERY` seconds while it runs. A child with
``max_rss`` over it is restarted as a crash (`ProcessOverMemory`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from .._errors import SupervisorError
from .._policy.states import Reason

if TYPE_CHECKING:
    from .process import ProcessHandle

#: Seconds between two samples of one child's processes. Each costs one scan
#: of the process table (psutil's children(recursive=True)): a few
#: milliseconds on a host with a few hundred processes.
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


def sample(pid: int) -> dict[str, float] | None:
    """RSS (bytes), CPU (s), open descriptors and count of *pid* and its descendants."""
    import psutil  # noqa: PLC0415 - lazily: only Process children need it

    try:
        leader = psutil.Process(pid)
        members = [leader, *leader.children(recursive=True)]
    except psutil.Error:
        return None  # it exited meanwhile
    rss = cpu = fds = 0.0
    counted = 0
    for process in members:
        try:
            with process.oneshot():
                rss += process.memory_info().rss
                times = process.cpu_times()
                cpu += times.user + times.system
                fds += process.num_fds()
        except psutil.Error:
            continue  # gone, or not ours to read (it changed user)
        counted += 1
    return {"rss": rss, "cpu_seconds": cpu, "open_files": fds, "processes": counted}


async def watch(inc: Any, handle: ProcessHandle) -> None:
    """Sample *handle*'s processes into its record; over ``max_rss``, crash it."""
    limit = handle.spec.max_rss
    while True:
        # First after one period: a process that exits at once (a crash loop)
        # costs no scan of the process table.
        await trio.sleep(SAMPLE_EVERY)
        facts = sample(handle.proc.pid)
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
