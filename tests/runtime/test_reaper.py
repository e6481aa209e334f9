"""
Orphans reaped as PID 1 would (the test process is made a child subreaper by
the leftover check, so orphans come to it), and trio's own children untouched.
"""

from __future__ import annotations

import os

import pytest
import trio
from structlog.testing import capture_logs

from supervisor import Child, Process, Supervisor, open_tree
from supervisor._runtime.reaper import OrphanReaper
from tests._processes import no_leftover_processes, wait_for

__all__ = ["no_leftover_processes"]  # the autouse fixture, imported to be used


def _zombie_children() -> list[int]:
    import psutil  # noqa: PLC0415 - a test helper

    found = []
    for child in psutil.Process().children():
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                found.append(child.pid)
        except psutil.Error:
            continue
    return found


async def test_orphans_are_reaped_and_trio_keeps_its_children(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(OrphanReaper, "needed", staticmethod(lambda: True))
    codes: list[int] = []

    async def runs_a_process() -> None:
        # trio waits for this one itself: its status must not be stolen.
        done = await trio.run_process(["sh", "-c", "sleep 0.5; exit 7"], check=False)
        codes.append(done.returncode)
        await trio.sleep_forever()

    # Each subshell leaves an orphan that exits 0.3 s later.
    script = "for i in 1 2 3; do (sleep 0.3 &); done; echo spawned; sleep 100"
    spec = Supervisor(
        name="root",
        children=[
            Process(name="p", argv=["sh", "-c", script]),
            Child(name="runner", target=runs_a_process),
        ],
    )
    with capture_logs() as logs:
        async with open_tree(spec) as t:
            await wait_for(lambda: codes)
            await wait_for(
                lambda: (
                    sum(
                        e.get("count", 0)
                        for e in logs
                        if e["event"] == "orphans_reaped"
                    )
                    >= 3
                )
            )
            assert _zombie_children() == []
    p = t.snapshot().node("root/p")

    assert codes == [7]
    assert p.process is not None
    assert p.process.exit == "signal=SIGTERM"  # its status was trio's to read


async def test_orphans_that_lead_their_own_session_are_reaped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(OrphanReaper, "needed", staticmethod(lambda: True))
    # setsid: each orphan leads a session of its own, as a Process child does.
    script = "for i in 1 2 3; do (setsid sleep 0.3 &); done; echo spawned; sleep 100"
    spec = Supervisor(
        name="root", children=[Process(name="p", argv=["sh", "-c", script])]
    )
    with capture_logs() as logs:
        async with open_tree(spec):
            await wait_for(
                lambda: (
                    sum(
                        e.get("count", 0)
                        for e in logs
                        if e["event"] == "orphans_reaped"
                    )
                    >= 3
                )
            )
            assert _zombie_children() == []


def test_only_pid_1_needs_a_reaper() -> None:
    assert OrphanReaper.needed() is (os.getpid() == 1)
