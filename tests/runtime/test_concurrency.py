"""
Control calls, exits and sweeps that overlap: the supervisor serialises them as
OTP's does (one message at a time), so start order, stop order and restart
decisions hold whatever arrives while a sweep is still stopping children.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

import supervisor
from supervisor import (
    AutoShutdown,
    Backoff,
    Child,
    DynamicSupervisor,
    Jitter,
    Restart,
    State,
    Strategy,
    Supervisor,
    open_tree,
    run,
    testing,
)
from tests._helpers import Log, recorder

NOW = Backoff(initial=0, jitter=Jitter.NONE)
EXACT = Backoff(initial=1, factor=2, max=8, jitter=Jitter.NONE)
SLOW = Backoff(initial=10, factor=1, max=10, jitter=Jitter.NONE)


def slow_sweep(log: Log) -> Supervisor:
    """ONE_FOR_ALL: a crashes at 1, and the sweep takes until 2 to stop b."""
    return Supervisor(
        name="root",
        strategy=Strategy.ONE_FOR_ALL,
        backoff=NOW,
        children=[
            Child(name="a", target=recorder(log, "a", crash_after=1, crashes=1)),
            Child(name="b", target=recorder(log, "b", stop_takes=1)),
        ],
    )


def starts_after(log: Log, t: float) -> list[str]:
    return [e for time, e in log if e.startswith("start") and time > t]


async def test_delete_during_a_sweep_is_refused(autojump_clock: Any) -> None:
    """
    A child waiting for its sweep is about to be restarted: delete_child refuses it.
    """
    log: Log = []
    spec = slow_sweep(log)
    async with open_tree(spec) as tree:
        await trio.sleep(1.5)  # a crashed at 1; the sweep stops b until 2
        with pytest.raises(supervisor.ChildRunning, match="about to be restarted"):
            await tree.delete_child("root/a")
        await trio.sleep(1)

        assert ["a", "b"] == [c.name for c in tree.which_children("root")]
        assert [(2, "start a"), (2, "start b")] == [
            e for e in log if e[0] > 1.5 and e[1].startswith("start")
        ]


async def test_start_child_during_a_sweep_waits_for_its_stops(
    autojump_clock: Any,
) -> None:
    """
    start_child while a sweep is stopping siblings: the new child starts once the
    stops are over (control calls are serialised with sweeps), not held by the
    start queue after that.
    """
    log: Log = []
    spec = slow_sweep(log)
    async with open_tree(spec) as tree:
        await trio.sleep(1.5)
        await tree.start_child("root", Child(name="c", target=recorder(log, "c")))

        assert 2 == trio.current_time()

    assert [(2, "start a"), (2, "start b"), (2, "start c")] == sorted(
        e for e in log if e[0] > 1 and e[1].startswith("start")
    )


async def test_overlapping_rest_for_one_sweeps_keep_start_order(
    autojump_clock: Any,
) -> None:
    """
    x crashes while the sweep for b is still stopping c: x, b, c restart in that order.
    """
    log: Log = []
    spec = Supervisor(
        name="root",
        strategy=Strategy.REST_FOR_ONE,
        backoff=NOW,
        intensity=10,
        children=[
            Child(name="x", target=recorder(log, "x", crash_after=1.5, crashes=1)),
            Child(name="b", target=recorder(log, "b", crash_after=1, crashes=1)),
            Child(name="c", target=recorder(log, "c", stop_takes=1)),
        ],
    )
    async with open_tree(spec):
        await trio.sleep(5)

    assert ["start x", "start b", "start c"] == starts_after(log, 1.5)
    assert 2 == max(t for t, e in log if e == "start b")


async def test_all_significant_waits_for_a_child_being_restarted(
    autojump_clock: Any,
) -> None:
    """
    ALL_SIGNIFICANT: a significant child waiting for its sweep has not ended for good.
    """

    async def returns_at(t: float) -> None:
        await trio.sleep(t)

    log: Log = []
    spec = Supervisor(
        name="root",
        strategy=Strategy.REST_FOR_ONE,
        backoff=NOW,
        auto_shutdown=AutoShutdown.ALL_SIGNIFICANT,
        children=[
            Child(
                name="s2",
                target=returns_at,
                args=(1.5,),
                restart=Restart.TRANSIENT,
                significant=True,
            ),
            Child(
                name="s1",
                target=recorder(log, "s1", crash_after=1, crashes=1),
                restart=Restart.TRANSIENT,
                significant=True,
            ),
            Child(name="c", target=recorder(log, "c", stop_takes=1)),
        ],
    )
    with trio.move_on_after(10):
        await run(spec)

    assert 11 == trio.current_time()  # cancelled at 10; c's cleanup takes 1 s


async def test_restart_child_of_the_queue_head_keeps_order(autojump_clock: Any) -> None:
    """
    restart_child on a child its later siblings wait for: they still start after it.
    """
    log: Log = []
    spec = Supervisor(
        name="root",
        strategy=Strategy.ONE_FOR_ALL,
        backoff=EXACT,
        children=[
            Child(name="a", target=recorder(log, "a", crash_after=1, crashes=1)),
            Child(name="b", target=recorder(log, "b")),
        ],
    )
    async with open_tree(spec) as tree:
        await trio.sleep(1.5)  # a in backoff until 2; b waits for it
        await tree.restart_child("root/a")
        await trio.sleep(1)

    assert ["start a", "start b"] == starts_after(log, 1)


async def test_start_child_is_not_held_behind_a_failing_start(
    autojump_clock: Any,
) -> None:
    """
    start_child while an earlier child keeps failing its start: the new child
    starts at once (OTP's start_child), and terminate_child stops it.
    """

    async def never_starts(
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        raise RuntimeError("cannot start")

    log: Log = []
    spec = Supervisor(
        name="root",
        backoff=SLOW,
        intensity=100,
        period=1,
        children=[Child(name="a", target=recorder(log, "a"))],
    )
    returned: list[float] = []
    async with open_tree(spec) as tree:
        await tree.start_child("root", Child(name="x", target=never_starts))
        async with trio.open_nursery() as nursery:

            async def add_y() -> None:
                await tree.start_child(
                    "root", Child(name="y", target=recorder(log, "y"))
                )
                returned.append(trio.current_time())

            nursery.start_soon(add_y)
            await trio.sleep(1)
            assert State.RUNNING == tree.snapshot().node("root/y").state
            await tree.terminate_child("root/y")

        assert [0] == returned
        assert State.BACKOFF == tree.snapshot().node("root/x").state
        assert State.STOPPED == tree.snapshot().node("root/y").state


async def test_dynamic_children_start_independently(autojump_clock: Any) -> None:
    """
    A dynamic child that keeps failing to start does not hold up the next one.
    """

    async def worker(
        kind: str, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        if kind == "bad":
            raise RuntimeError("cannot connect")
        task_status.started()
        await trio.sleep_forever()

    spec = DynamicSupervisor(
        name="pool",
        template=Child(name="w", target=worker),
        backoff=SLOW,
        intensity=100,
        period=1,
    )
    async with open_tree(spec) as tree:
        await tree.start_child("pool", args=("bad",))
        await tree.start_child("pool", args=("good",))

        assert 0 == trio.current_time()
        assert [State.BACKOFF, State.RUNNING] == [
            c.state for c in tree.which_children("pool")
        ]


async def test_dynamic_terminate_spares_a_newer_namesake(autojump_clock: Any) -> None:
    """
    A queued terminate_child of a dynamic child never removes a newer child of that name.
    """

    async def quick(
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        task_status.started()
        await trio.sleep_forever()

    pool = DynamicSupervisor(
        name="pool", template=Child(name="w", target=quick, restart=Restart.TEMPORARY)
    )
    spec = Supervisor(name="root", children=[pool])
    async with open_tree(spec) as tree:
        await tree.start_child("root/pool", name="conn")
        await tree.terminate_child("root/pool/conn")
        again = await tree.start_child("root/pool", name="conn")

        assert "root/pool/conn" == again
        assert [("conn", State.RUNNING)] == [
            (c.name, c.state) for c in tree.which_children("root/pool")
        ]


async def test_backoff_resets_after_a_stable_run_ended_by_a_sweep(
    autojump_clock: Any,
) -> None:
    """
    A child that ran longer than reset_after and was then swept starts its backoff over.
    """
    starts: list[float] = []

    async def a() -> None:
        starts.append(trio.current_time())
        n = len(starts)
        if n <= 3:  # crashes at 0, 1, 3: delays 1, 2, 4
            raise RuntimeError("a")
        if n == 4:  # from t=7: stable
            await trio.sleep_forever()
        await trio.sleep(0.5)
        raise RuntimeError("a again")

    async def b() -> None:
        await trio.sleep(100)
        raise RuntimeError("b")

    spec = Supervisor(
        name="root",
        strategy=Strategy.ONE_FOR_ALL,
        backoff=EXACT,
        intensity=10,
        children=[Child(name="a", target=a)],
    )
    async with open_tree(spec) as tree:
        await tree.start_child("root", Child(name="b", target=b))
        await trio.sleep(115)

    assert starts[4] + 0.5 + 1 == starts[5]  # delay back to `initial`


async def test_temporary_child_swept_while_starting_is_not_started_again(
    autojump_clock: Any,
) -> None:
    """
    A TEMPORARY child still starting when a sweep stops it is not queued again.
    """
    log: Log = []

    async def t(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        log.append((trio.current_time(), "start t"))
        await trio.sleep(2)
        task_status.started()
        await trio.sleep_forever()

    inner = Supervisor(
        name="inner",
        strategy=Strategy.ONE_FOR_ALL,
        backoff=NOW,
        children=[
            Child(name="a", target=recorder(log, "a", crash_after=1, crashes=1)),
            Child(name="t", target=t, restart=Restart.TEMPORARY),
        ],
    )
    async with open_tree(Supervisor(name="root", children=[inner])):
        await trio.sleep(1)

    assert 1 == [e for _, e in log].count("start t")


async def test_stopped_tree_reports_no_child_in_backoff(autojump_clock: Any) -> None:
    """
    A tree stopped during a sweep leaves every child stopped, none in backoff.
    """
    log: Log = []
    spec = slow_sweep(log)
    async with open_tree(spec) as tree:
        await trio.sleep(1.5)
        await tree.stop()
        states = {
            c.name: (c.state, c.next_start_at) for c in tree.snapshot().root.children
        }

    assert {"a": (State.STOPPED, None), "b": (State.STOPPED, None)} == states


class TestOpenTreeEdges:
    async def test_exceptions_from_the_block_come_out_bare(
        self, autojump_clock: Any
    ) -> None:
        """
        An exception raised in the open_tree block propagates as itself, after the ordered stop.
        """
        log: Log = []
        spec = Supervisor(
            name="root", children=[Child(name="a", target=recorder(log, "a"))]
        )
        with pytest.raises(KeyError):
            async with open_tree(spec):
                raise KeyError("from the block")
        with pytest.raises(KeyboardInterrupt):
            async with open_tree(spec):
                raise KeyboardInterrupt

        assert ["start a", "stop a", "start a", "stop a"] == [e for _, e in log]

    async def test_root_auto_shutdown_during_start(self, autojump_clock: Any) -> None:
        """
        A root that auto-shuts down while starting: open_tree enters a stopped tree.
        """

        async def done_at_once() -> None:
            return

        spec = Supervisor(
            name="root",
            auto_shutdown=AutoShutdown.ANY_SIGNIFICANT,
            children=[
                Child(
                    name="job",
                    target=done_at_once,
                    restart=Restart.TRANSIENT,
                    significant=True,
                )
            ],
        )
        async with open_tree(spec) as tree:
            await tree.wait_stopped()

            assert State.STOPPED == tree.snapshot().root.state

    async def test_keyboard_interrupt_outranks_giving_up(
        self, autojump_clock: Any
    ) -> None:
        """
        A child's KeyboardInterrupt is re-raised even if the root also gave up meanwhile.
        """

        async def interrupt() -> None:
            await trio.sleep(1)
            raise KeyboardInterrupt

        async def crash_on_stop() -> None:
            try:
                await trio.sleep_forever()
            finally:
                raise RuntimeError("cleanup failed")

        spec = Supervisor(
            name="root",
            intensity=0,
            children=[
                Child(name="c", target=crash_on_stop),
                Child(name="k", target=interrupt),
            ],
        )
        with pytest.raises(KeyboardInterrupt):
            await run(spec)


# ---- found by the timed model (tests/test_stateful.py) -----------------------


async def test_a_temporary_child_that_fails_its_start_shows_failed(
    autojump_clock: Any,
) -> None:
    """
    Leaving the start queue marks a queued child stopped; that must not hide
    that this one failed its start.
    """

    async def refuse(task_status: Any) -> None:
        raise ConnectionRefusedError("no database")

    spec = Supervisor(
        name="root",
        children=[
            Child(name="job", target=refuse, restart=Restart.TEMPORARY),
            Child(name="b", target=trio.sleep_forever),
        ],
    )
    async with open_tree(spec) as tree:
        snap = tree.snapshot()
    assert State.FAILED is snap.node("root/job").state
    assert State.RUNNING is snap.node("root/b").state


async def test_restart_child_is_not_held_behind_a_slow_start(
    autojump_clock: Any,
) -> None:
    """
    restart_child of a TEMPORARY child while an earlier sibling takes 10 s to
    start: it starts at once, and a REST_FOR_ONE sweep then takes it away for good.
    """
    slow_next = {"b": False}

    async def b(task_status: Any) -> None:
        if slow_next["b"]:
            await trio.sleep(10)
        task_status.started()
        await trio.sleep_forever()

    spec = Supervisor(
        name="root",
        strategy=Strategy.REST_FOR_ONE,
        backoff=NOW,
        children=[
            Child(name="a", target=trio.sleep_forever),
            Child(name="b", target=b, start_timeout=30),
            Child(name="t", target=trio.sleep_forever, restart=Restart.TEMPORARY),
        ],
    )
    async with open_tree(spec) as tree, trio.open_nursery() as nursery:
        slow_next["b"] = True
        nursery.start_soon(tree.restart_child, "root/b")  # b starts until 10
        await trio.sleep(1)
        await tree.restart_child("root/t")  # not queued behind b
        assert 1 == trio.current_time()
        assert State.RUNNING is tree.snapshot().node("root/t").state
        testing.crash(tree, "root/a")  # sweeps b and t
        await trio.sleep(1)
        assert State.STOPPED is tree.snapshot().node("root/t").state
        nursery.cancel_scope.cancel()


async def test_hanging_twice_keeps_the_first_hang(autojump_clock: Any) -> None:
    """
    Beats are ignored from the first hang on, so a second hang does not move
    the time the watchdog cancels the child.
    """
    spec = Supervisor(
        name="root",
        backoff=SLOW,
        children=[Child(name="w", target=testing.beat_every(1), heartbeat_timeout=3)],
    )
    async with open_tree(spec) as tree:
        await trio.sleep(0.5)
        testing.hang(tree, "root/w")  # last beat at 0
        await trio.sleep(2)
        testing.hang(tree, "root/w")  # it beat at 1 and 2: ignored
        await trio.sleep(0.75)  # 3.25
        node = tree.snapshot().node("root/w")
    assert (1, State.BACKOFF) == (node.missed_heartbeats, node.state)


async def test_restart_child_of_a_swept_child_returns_once_it_stopped(
    autojump_clock: Any,
) -> None:
    """
    A TEMPORARY child still starting when a REST_FOR_ONE sweep takes it away:
    restart_child returns once the sweep has stopped it, not before.
    """

    async def slow_to_start_and_stop(task_status: Any) -> None:
        with trio.CancelScope(shield=True):  # a stop lands only after 3 s
            await trio.sleep(3)
        task_status.started()
        await trio.sleep_forever()

    spec = Supervisor(
        name="root",
        strategy=Strategy.REST_FOR_ONE,
        backoff=NOW,
        children=[
            Child(name="a", target=trio.sleep_forever),
            Child(
                name="t",
                target=slow_to_start_and_stop,
                restart=Restart.TEMPORARY,
                start_timeout=30,
                shutdown=10,
            ),
        ],
    )
    async with open_tree(spec) as tree:  # t started at 3
        seen: list[tuple[float, State]] = []

        async def restart_t() -> None:
            await tree.restart_child("root/t")
            seen.append((trio.current_time(), tree.snapshot().node("root/t").state))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(restart_t)  # t starts again, until 6
            await trio.sleep(1)
            testing.crash(tree, "root/a")  # at 4: the sweep stops t, done at 6
    assert [(6, State.STOPPED)] == seen
