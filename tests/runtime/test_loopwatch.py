"""
The blocked-event-loop watcher, with the real clock: a blocked loop is a
wall-clock fact, so this is where real time is the point (generous bounds).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import structlog
import trio
import trio.lowlevel

import supervisor
import supervisor.logging
from supervisor import Child, Supervisor, open_tree


def blocking_poller(ready: trio.Event) -> object:
    async def poll_with_a_blocking_call() -> None:
        await ready.wait()
        time.sleep(0.5)  # noqa: ASYNC251 - the bug being caught: a sync call on the trio thread
        await trio.sleep_forever()

    return poll_with_a_blocking_call


async def test_blocked_loop_is_reported_with_the_offending_frame() -> None:
    """
    A child that calls time.sleep(0.5) with a 0.2 s threshold: one event_loop_blocked
    event whose stack names the child's function, then event_loop_unblocked.
    """
    ready = trio.Event()
    spec = Supervisor(
        name="root", children=[Child(name="p", target=blocking_poller(ready))]
    )
    with structlog.testing.capture_logs() as logs:
        async with open_tree(spec, loop_block_threshold=0.2) as tree:
            await trio.sleep(0.3)  # let the watcher see a healthy loop first
            ready.set()
            await trio.sleep(0.6)
            health = tree.snapshot().event_loop

    blocked = [e for e in logs if e["event"] == "event_loop_blocked"]
    unblocked = [e for e in logs if e["event"] == "event_loop_unblocked"]
    assert 1 == len(blocked)
    assert 1 == len(unblocked)
    stack = blocked[0]["stack"]
    # One traceback-style string, innermost call last: what every renderer prints.
    assert isinstance(stack, str)
    assert "in poll_with_a_blocking_call\n    time.sleep(0.5)" in stack
    assert stack.rstrip().endswith(
        "time.sleep(0.5)  # noqa: ASYNC251 - the bug being caught: a sync call on the trio thread"
    )
    assert 0.2 <= blocked[0]["blocked_for"] < 0.5
    assert 0.25 <= unblocked[0]["blocked_for"] <= 0.6
    assert (False, 1, 0.2) == (health.blocked, health.blocked_count, health.threshold)
    assert 0.25 <= health.blocked_seconds_total <= 0.6


async def test_no_event_when_nothing_blocks() -> None:
    """
    A busy but cooperative loop is never reported.
    """

    async def cooperative() -> None:
        while True:
            deadline = time.perf_counter() + 0.01
            while time.perf_counter() < deadline:  # short bursts of CPU
                pass
            await trio.lowlevel.checkpoint()

    spec = Supervisor(name="root", children=[Child(name="c", target=cooperative)])
    with structlog.testing.capture_logs() as logs:
        async with open_tree(spec, loop_block_threshold=0.2) as tree:
            await trio.sleep(0.8)
            health = tree.snapshot().event_loop

    assert [] == [e for e in logs if e["event"].startswith("event_loop")]
    assert (False, 0) == (health.blocked, health.blocked_count)


async def test_watcher_thread_stops_with_the_tree() -> None:
    """
    The watcher thread exists while the tree runs and is joined when it stops.
    """

    def watchers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "supervisor-loopwatch"]

    spec = Supervisor(
        name="root", children=[Child(name="c", target=trio.sleep_forever)]
    )
    async with open_tree(spec, loop_block_threshold=0.2):
        assert 1 == len(watchers())

    assert [] == watchers()


async def test_watching_can_be_turned_off_and_bad_thresholds_refused() -> None:
    """
    loop_block_threshold=None runs no thread; a non-positive threshold is a SpecError.
    """
    spec = Supervisor(
        name="root", children=[Child(name="c", target=trio.sleep_forever)]
    )
    async with open_tree(spec, loop_block_threshold=None) as tree:
        assert tree.snapshot().event_loop.threshold is None
    with pytest.raises(supervisor.SpecError, match="loop_block_threshold must be > 0"):
        async with open_tree(spec, loop_block_threshold=0):
            pass  # pragma: no cover


async def _block_twice(threshold: float = 0.2) -> supervisor.EventLoopHealth:
    """A tree whose child blocks the loop for 0.5 s twice; its loop health after."""
    blocks = [trio.Event(), trio.Event()]

    async def blocker() -> None:
        for ready in blocks:
            await ready.wait()
            time.sleep(0.5)  # noqa: ASYNC251 - the fault under test
        await trio.sleep_forever()

    spec = Supervisor(name="root", children=[Child(name="b", target=blocker)])
    async with open_tree(spec, loop_block_threshold=threshold) as tree:
        for ready in blocks:
            await trio.sleep(0.3)
            ready.set()
            await trio.sleep(0.7)
        return tree.snapshot().event_loop


async def test_watcher_survives_structlog_default_configuration(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    An application that never configured structlog gets its ConsoleRenderer:
    both blocks are printed with their stack, and the loop is not left blocked
    (a stuck flag fails /livez forever).
    """
    structlog.reset_defaults()  # conftest installs a quiet configuration
    health = await _block_twice()

    out = capsys.readouterr().out
    assert 2 == out.count("event_loop_blocked")
    assert 2 == out.count("event_loop_unblocked")
    assert "time.sleep(0.5)  # noqa: ASYNC251" in out
    assert (False, 2, 0) == (
        health.blocked,
        health.blocked_count,
        health.logging_errors,
    )


@pytest.mark.parametrize("fmt", ["json", "console"])
async def test_watcher_logs_under_each_cli_format(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """
    The CLI's JSON and console formats both render the event, stack included.
    """

    supervisor.logging.configure(fmt, "info")
    health = await _block_twice()

    err = capsys.readouterr().err
    assert (False, 2, 0) == (
        health.blocked,
        health.blocked_count,
        health.logging_errors,
    )
    if fmt == "json":
        events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        blocked = [e for e in events if e["event"] == "event_loop_blocked"]
        assert 2 == len(blocked)
        assert "in blocker\n    time.sleep(0.5)" in blocked[0]["stack"]
    else:
        assert 2 == err.count("event_loop_blocked")
        assert "in blocker" in err


async def test_watcher_survives_a_logger_that_raises(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    A processor that raises on every event of the watcher: it goes on (the
    second block is seen too), counts each failed event, says so once on
    stderr (the type only: the text may quote the stack), and clears the
    blocked flag.
    """

    def broken(logger: Any, name: str, event: dict[str, Any]) -> Any:
        if event["event"].startswith("event_loop"):
            raise ValueError("secret-token-in-the-message")
        return ""

    structlog.configure(
        processors=[broken], logger_factory=structlog.ReturnLoggerFactory()
    )
    health = await _block_twice()

    err = capsys.readouterr().err
    assert (False, 2) == (health.blocked, health.blocked_count)
    assert 4 == health.logging_errors  # blocked and unblocked, twice
    lines = [line for line in err.splitlines() if line.startswith("supervisor:")]
    assert [
        "supervisor: logging event_loop_blocked raised ValueError; the loop watcher "
        "goes on (errors counted in snapshot().event_loop.logging_errors; told once)"
    ] == lines
    assert "secret-token" not in err


def worker_beating_every(interval: float) -> object:
    async def worker() -> None:
        while True:
            supervisor.heartbeat()
            await trio.sleep(interval)

    return worker


async def test_a_blocking_call_longer_than_the_heartbeat_timeout_hangs_no_child() -> (
    None
):
    """
    20 healthy workers (timeout 1 s, beating every 0.1 s) and one real
    time.sleep(1.5) on the trio thread: the block is reported once, and no
    worker is declared hung (they could not have beaten; they do as soon as
    the loop runs).
    """
    ready = trio.Event()

    async def blocker() -> None:
        await ready.wait()
        time.sleep(1.5)  # noqa: ASYNC251 - the fault under test
        await trio.sleep_forever()

    spec = Supervisor(
        name="root",
        children=[
            *(
                Child(
                    name=f"w{i}", target=worker_beating_every(0.1), heartbeat_timeout=1
                )
                for i in range(20)
            ),
            Child(name="blocker", target=blocker),
        ],
    )
    with structlog.testing.capture_logs() as logs:
        async with open_tree(spec, loop_block_threshold=1.0) as tree:
            await trio.sleep(0.5)
            ready.set()
            await trio.sleep(2.5)
            snap = tree.snapshot()

    events = [e["event"] for e in logs]
    assert 0 == events.count("child_hung")
    assert 1 == events.count("event_loop_blocked")
    assert {(1, 0)} == {
        (snap.node(f"root/w{i}").starts, snap.node(f"root/w{i}").missed_heartbeats)
        for i in range(20)
    }
