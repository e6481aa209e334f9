"""
Shared by the tests of `Process` children: a notify client script, a poll
with a deadline, and the autouse check that no process of a test is left.

The check makes the test process a child subreaper while the test runs, so a
process orphaned by a test (a shell's grandchild, say) is re-parented to it
rather than to PID 1, and so is still found among its descendants after the
test: orphans cannot hide.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import trio

NOTIFY_CHILD = str(Path(__file__).with_name("_notify_child.py"))
PYTHON = sys.executable
_PR_SET_CHILD_SUBREAPER = 36


def _subreaper(on: bool) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _live_descendants() -> list[psutil.Process]:
    me = psutil.Process()
    found = []
    for child in me.children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                if child.ppid() == me.pid:
                    os.waitpid(child.pid, os.WNOHANG)  # an adopted orphan, dead
                continue
            found.append(child)
        except (psutil.NoSuchProcess, ChildProcessError):
            continue
    return found


@pytest.fixture(autouse=True)
def no_leftover_processes() -> Iterator[None]:
    """After the test, no process it started (or orphaned) is left running."""
    before = {p.pid for p in _live_descendants()}
    _subreaper(True)
    try:
        yield
        deadline = time.monotonic() + 5.0
        left = [p for p in _live_descendants() if p.pid not in before]
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = [p for p in _live_descendants() if p.pid not in before]
        names = [(p.pid, " ".join(p.cmdline())) for p in left]
        for process in left:  # leave nothing behind for the next test
            process.kill()
        assert names == [], "processes left behind by the test"
    finally:
        _subreaper(False)
        _live_descendants()  # reap what was adopted meanwhile


def notify_argv(*steps: str) -> list[str]:
    """A child that sends each datagram step (or sleeps ``sleep:S``, exits ``exit:N``) in order."""
    return [PYTHON, NOTIFY_CHILD, *steps]


async def wait_for(
    predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition"
) -> None:
    """Poll *predicate* on the real clock until true, at most *timeout* seconds."""
    with trio.fail_after(timeout):
        while not predicate():  # noqa: ASYNC110 - real processes: polled with a deadline
            await trio.sleep(0.01)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
