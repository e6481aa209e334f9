"""
`Process(notify=True)`: systemd's notify protocol from real child processes
(a small Python client, and Debian's own systemd-notify). Real clock.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
import trio
from structlog.testing import capture_logs

from supervisor import (
    Backoff,
    Child,
    Jitter,
    Process,
    Reason,
    State,
    Supervisor,
    open_tree,
)
from tests._processes import no_leftover_processes, notify_argv, wait_for

__all__ = ["no_leftover_processes"]  # the autouse fixture, imported to be used

QUICK = Backoff(initial=0.2, factor=1.0, max=0.2, jitter=Jitter.NONE)


def tree(*children: Process | Child) -> Supervisor:
    return Supervisor(name="root", children=children, backoff=QUICK, intensity=20)


def node(t: Any, path: str = "root/p") -> Any:
    return t.snapshot().node(path)


def lines(t: Any, path: str = "root/p") -> list[str]:
    return [line for _, line in node(t, path).process.output]


async def test_ready_late_marks_it_started_and_the_next_sibling_waits() -> None:
    started: list[float] = []

    async def sibling() -> None:
        started.append(trio.current_time())
        await trio.sleep_forever()

    spec = tree(
        Process(name="p", argv=notify_argv("sleep:0.6", "READY=1"), notify=True),
        Child(name="after", target=sibling),
    )
    began = trio.current_time()
    async with open_tree(spec) as t:
        up = trio.current_time()
        process = node(t).process

    assert up - began >= 0.6
    assert started
    assert started[0] - began >= 0.6
    assert process.ready


async def test_no_ready_within_start_timeout_is_a_start_timeout() -> None:
    spec = Process(name="p", argv=notify_argv(), notify=True, start_timeout=0.5)
    async with open_tree(tree()) as t:
        began = trio.current_time()
        await t.start_child("root", spec)  # returns once its first attempt ended
        took = trio.current_time() - began
        first = node(t)

    assert 0.5 <= took < 3.0
    assert first.last_exit.reason is Reason.START_TIMEOUT
    assert first.state is State.BACKOFF


async def test_extend_timeout_usec_extends_the_start_deadline() -> None:
    argv = notify_argv("EXTEND_TIMEOUT_USEC=3000000", "sleep:1.0", "READY=1")
    spec = tree(Process(name="p", argv=argv, notify=True, start_timeout=0.5))
    async with open_tree(spec) as t:
        p = node(t)

    assert p.state is State.RUNNING
    assert p.starts == 1
    assert p.last_exit is None


async def test_a_missed_watchdog_is_a_heartbeat_timeout_on_time() -> None:
    beats = [step for _ in range(5) for step in ("WATCHDOG=1", "sleep:0.1")]
    argv = notify_argv("READY=1", *beats, "echo:stopped beating")
    spec = tree(Process(name="p", argv=argv, notify=True, heartbeat_timeout=0.5))
    with capture_logs() as logs:
        async with open_tree(spec) as t:
            await wait_for(lambda: "stopped beating" in lines(t))
            silent_since = trio.current_time()
            await wait_for(lambda: node(t).restarts >= 1)
            found_after = trio.current_time() - silent_since
            p = node(t)

    assert p.last_exit.reason is Reason.HEARTBEAT_TIMEOUT
    assert p.missed_heartbeats == 1
    # The last beat came ~0.1 s before the marker; it is found at 0.5 s after it.
    assert 0.2 <= found_after < 2.0
    assert "child_hung" in [e["event"] for e in logs]


async def test_watchdog_trigger_restarts_it() -> None:
    argv = notify_argv("READY=1", "sleep:0.2", "WATCHDOG=trigger")
    spec = tree(Process(name="p", argv=argv, notify=True, heartbeat_timeout=30))
    with capture_logs() as logs:
        async with open_tree(spec) as t:
            await wait_for(lambda: node(t).restarts >= 1)
            p = node(t)

    assert p.last_exit.reason is Reason.HEARTBEAT_TIMEOUT
    assert "notify_watchdog_trigger" in [e["event"] for e in logs]


async def test_watchdog_usec_and_pid_are_given_and_usec_can_change() -> None:
    script = 'echo "$WATCHDOG_PID $$ $WATCHDOG_USEC"; exec "$@"'
    argv = ["sh", "-c", script, "sh", *notify_argv("READY=1", "WATCHDOG_USEC=4000000")]
    spec = tree(Process(name="p", argv=argv, notify=True, heartbeat_timeout=1.5))
    async with open_tree(spec) as t:
        await wait_for(lambda: node(t).heartbeat_timeout == 4.0)
        first = lines(t)[0].split()
        p = node(t)

    assert first[0] == first[1] == str(p.process.pid)
    assert first[2] == "1500000"


async def test_status_stopping_and_errno_are_recorded() -> None:
    argv = notify_argv(
        "READY=1\\nSTATUS=warming up",
        "ERRNO=5",
        "STATUS=serving",
        "STOPPING=1",
        "echo:done",
    )
    spec = tree(Process(name="p", argv=argv, notify=True))
    with capture_logs() as logs:
        async with open_tree(spec) as t:
            await wait_for(lambda: "done" in lines(t))
            await wait_for(lambda: node(t).process.stopping)
            p = node(t)

    assert p.state is State.RUNNING  # ERRNO= alone is not a death
    assert (p.process.status, p.process.errno) == ("serving", 5)
    assert p.process.notifications == 4
    assert "notify_errno" in [e["event"] for e in logs]


async def test_garbage_is_ignored_with_one_rate_limited_event() -> None:
    garbage = ["not an assignment", "READY=maybe", "NOVEL_KEY=1"] * 10
    spec = tree(
        Process(
            name="p", argv=notify_argv("READY=1", *garbage, "echo:done"), notify=True
        )
    )
    with capture_logs() as logs:
        async with open_tree(spec) as t:
            await wait_for(lambda: "done" in lines(t))
            await wait_for(lambda: node(t).process.ignored_notifications == 30)

    ignored = [e for e in logs if e["event"] == "notify_ignored"]
    assert 1 <= len(ignored) <= 3  # one per second at most
    assert node(t).state is State.STOPPED  # stopped with the tree, nothing else


def _notify_socket_of(pid: int) -> str:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    value = next(v for v in environ if v.startswith(b"NOTIFY_SOCKET="))
    return value.split(b"=", 1)[1].decode()


async def test_a_stranger_cannot_speak_for_the_child() -> None:
    spec = tree(Process(name="p", argv=notify_argv("READY=1"), notify=True))
    async with open_tree(spec) as t:
        address = _notify_socket_of(node(t).process.pid)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"STATUS=hijacked\nWATCHDOG=trigger", "\0" + address[1:])
        await wait_for(lambda: node(t).process.ignored_notifications == 1)
        p = node(t)

    assert p.process.status is None
    assert p.restarts == 0


SYSTEMD_NOTIFY = shutil.which("systemd-notify")
needs_systemd_notify = pytest.mark.skipif(
    SYSTEMD_NOTIFY is None, reason="Debian's systemd package (systemd-notify) is needed"
)


@needs_systemd_notify
async def test_the_real_systemd_notify_with_its_barrier() -> None:
    # systemd-notify follows every message with BARRIER=1 and a pipe, and waits
    # 5 s unless the receiver closes it: three calls in well under 5 s.
    script = (
        "systemd-notify --ready --status='up and serving'; "
        "systemd-notify WATCHDOG=1; echo beat; "
        "systemd-notify --status='still serving'; echo done; exec sleep 100"
    )
    spec = tree(
        Process(name="p", argv=["sh", "-c", script], notify=True, heartbeat_timeout=10)
    )
    began = trio.current_time()
    async with open_tree(spec) as t:
        up = trio.current_time() - began
        await wait_for(lambda: "done" in lines(t), 4.0)
        all_three = trio.current_time() - began
        await wait_for(lambda: node(t).process.status == "still serving")
        p = node(t)

    assert up < 4.0
    assert all_three < 4.0
    assert p.process.ready
    assert p.process.ignored_notifications == 0
    assert p.process.notifications >= 3
    assert p.restarts == 0


async def test_extend_timeout_usec_extends_the_stop_deadline() -> None:
    notify = " ".join(notify_argv())
    script = (
        f'trap "{notify} EXTEND_TIMEOUT_USEC=4000000 exit:0; sleep 1.5; echo done; exit 0" TERM; '
        f"{notify} READY=1 exit:0; while :; do sleep 0.1; done"
    )
    spec = tree(Process(name="p", argv=["sh", "-c", script], notify=True, shutdown=0.5))
    async with open_tree(spec) as t:
        pass
    p = node(t)

    assert "done" in lines(t)
    assert not p.process.killed
    assert p.process.exit == "exit_code=0"
