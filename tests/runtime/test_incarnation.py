"""
One `Incarnation` per run of a child: a child between runs has none, what
belongs to a run goes with it, and staleness is identity.
"""

from __future__ import annotations

import contextvars
from typing import Any

import attrs
import pytest
import structlog
import trio

from supervisor import (
    Backoff,
    Child,
    Jitter,
    Reason,
    State,
    Supervisor,
    heartbeat,
    open_tree,
    testing,
)
from supervisor._runtime.slot import Incarnation, Slot

# What belongs to one run of a child, and so to its incarnation, not its slot.
PER_RUN = {
    "scope",
    "done",
    "stop_event",
    "stopping",
    "running",
    "next_start_at",
    "cancel_reason",
    "injected",
    "cell",
    "start_timer",
    "beat_timer",
    "stop_timer",
    "restarts",  # derived: the sum of restarts_by_reason
}


def test_a_slot_keeps_no_state_of_one_run() -> None:
    fields = attrs.fields_dict(Slot)
    assert set() == PER_RUN & set(fields)
    assert "current" in fields
    assert "__dict__" not in dir(Incarnation(None, float, None, None))  # type: ignore[arg-type]


async def test_a_child_between_runs_has_no_incarnation(autojump_clock: Any) -> None:

    async def worker() -> None:
        heartbeat()
        await trio.sleep_forever()

    spec = Supervisor(
        name="root",
        backoff=Backoff(initial=1, jitter=Jitter.NONE),
        children=[Child(name="w", target=worker, heartbeat_timeout=5)],
    )
    async with open_tree(spec, loop_block_threshold=None) as tree:
        _, slot = tree._child("root/w")
        first = slot.current
        assert first is not None
        assert first.running
        assert not first.ended

        testing.crash(tree, "root/w")
        await trio.sleep(0.5)  # in backoff: a new incarnation, not yet called
        backoff = slot.current
        assert backoff is not None
        assert backoff is not first
        assert (first.ended, backoff.running) == (True, False)
        assert backoff.next_start_at is not None

        await trio.sleep(1)
        assert slot.current is backoff
        assert backoff.running
        assert (2, 1) == (slot.starts, slot.restarts)

        await tree.terminate_child("root/w")
        assert slot.current is None
        assert (slot.active, slot.running) == (False, False)
        assert backoff.ended
        # Its timers let go of it: nothing but this test holds the old runs.
        assert 0 == tree._hub.watchdog.pending


def _task_log() -> tuple[list[tuple[object, Incarnation]], Any, trio.Event]:
    """A child that records (its task, its incarnation), crashing 3 times."""
    seen: list[tuple[object, Incarnation]] = []
    fourth = trio.Event()

    async def crashing() -> None:
        from supervisor._runtime.slot import CURRENT  # noqa: PLC0415 - the seam under test

        seen.append((trio.lowlevel.current_task(), CURRENT.get()))
        if len(seen) < 4:
            raise RuntimeError("boom")
        fourth.set()
        await trio.sleep_forever()

    return seen, crashing, fourth


async def test_a_crash_restarted_alone_runs_again_in_the_same_task(
    autojump_clock: Any,
) -> None:
    """
    The restart path's shortcut: a crash never cancels the incarnation's scope,
    so the next run goes on in the same task, inside the same scope, each run
    still its own incarnation (with and without a backoff delay).
    """
    seen, crashing, fourth = _task_log()
    spec = Supervisor(
        name="app",
        intensity=10,
        backoff=Backoff(initial=0.1, max=0.1, jitter=Jitter.NONE),
        children=[Child(name="c", target=crashing)],
    )
    async with open_tree(spec) as tree:
        await fourth.wait()
        assert 1 == len({task for task, _ in seen})
        assert 4 == len({id(inc) for _, inc in seen})
        assert 1 == len({id(inc.scope) for _, inc in seen})
        assert 3 == tree.snapshot().node("app/c").restarts


async def test_an_ended_incarnation_cannot_cancel_its_successor(
    autojump_clock: Any,
) -> None:
    """They share a scope: a cancel through the stale one must do nothing."""
    seen, crashing, fourth = _task_log()
    spec = Supervisor(
        name="app", intensity=10, children=[Child(name="c", target=crashing)]
    )
    async with open_tree(spec) as tree:
        await fourth.wait()
        stale, current = seen[0][1], seen[-1][1]
        assert stale.scope is current.scope
        stale.cancel(Reason.SHUTDOWN)
        await trio.sleep(1)
        assert not current.scope.cancel_called
        assert State.RUNNING is tree.child_state("app/c")


async def test_a_crash_loop_in_one_task_starves_no_sibling(autojump_clock: Any) -> None:
    """Each restart in the same task still yields to the scheduler."""
    ticks = 0
    crashes = 0

    async def ticking() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.lowlevel.checkpoint()

    async def crash_loop() -> None:
        nonlocal crashes
        crashes += 1
        raise RuntimeError("boom")

    spec = Supervisor(
        name="app",
        intensity=10_000,
        period=3600,
        backoff=Backoff(initial=0, jitter=Jitter.NONE),
        children=[
            Child(name="tick", target=ticking),
            Child(name="loop", target=crash_loop),
        ],
    )
    async with open_tree(spec):
        while crashes < 1000:
            await trio.lowlevel.checkpoint()
        assert ticks >= 900  # interleaved: about one tick per restart


async def test_a_cancelled_scope_is_not_shared_by_the_next_run(
    autojump_clock: Any,
) -> None:
    """A run cancelled (here by the test kit's crash) restarts in a fresh task and scope."""
    runs: list[Incarnation] = []
    second = trio.Event()

    async def sleeper() -> None:
        from supervisor._runtime.slot import CURRENT  # noqa: PLC0415 - the seam under test

        runs.append(CURRENT.get())
        if len(runs) == 2:
            second.set()
        await trio.sleep_forever()

    spec = Supervisor(name="app", children=[Child(name="s", target=sleeper)])
    async with open_tree(spec) as tree:
        await trio.sleep(0.1)
        testing.crash(tree, "app/s", RuntimeError("injected"))
        await second.wait()
        assert runs[0].scope is not runs[1].scope
        assert runs[0].scope.cancel_called
        assert not runs[1].scope.cancel_called


LEFT_OVER: contextvars.ContextVar[str] = contextvars.ContextVar("left_over")


@pytest.mark.parametrize("how", ["raises", "cancelled"])
async def test_a_restarted_child_starts_from_its_supervisors_context(
    autojump_clock: Any, how: str
) -> None:
    """
    What a crashed run set in its context (a contextvar, structlog's bound
    contextvars) is not seen by the next run, whether it goes on in the same
    task (a crash) or in a new one (a cancellation); the supervisor's own
    context is.
    """
    seen: list[tuple[str, str | None]] = []
    third = trio.Event()
    tree_box: list[Any] = []

    async def child() -> None:
        seen.append(
            (
                LEFT_OVER.get("clean"),
                structlog.contextvars.get_contextvars().get("request_id"),
            )
        )
        LEFT_OVER.set(f"left over by run {len(seen)}")
        structlog.contextvars.bind_contextvars(request_id=f"r{len(seen)}")
        if len(seen) == 3:
            third.set()
            await trio.sleep_forever()
        if how == "raises":
            raise RuntimeError("boom")
        testing.crash(tree_box[0], "app/c", RuntimeError("injected"))
        await trio.sleep_forever()

    spec = Supervisor(
        name="app", intensity=10, children=[Child(name="c", target=child)]
    )
    token = LEFT_OVER.set("the caller's")
    try:
        async with open_tree(spec) as tree:
            tree_box.append(tree)
            await third.wait()
    finally:
        LEFT_OVER.reset(token)
        structlog.contextvars.clear_contextvars()

    assert [("the caller's", None)] * 3 == seen
