"""
The trio runtime, driven with an autojump MockClock: exact virtual times.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import structlog
import trio
import trio.testing

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
    TooManyRestarts,
    open_tree,
    run,
)
from tests._helpers import recorder

EXACT = Backoff(initial=1, factor=2, max=8, jitter=Jitter.NONE)
NOW = Backoff(initial=0, jitter=Jitter.NONE)

Target = Callable[..., Coroutine[Any, Any, None]]


async def forever() -> None:
    await trio.sleep_forever()


async def crash_now() -> None:
    raise RuntimeError("boom")


async def return_now() -> None:
    return


class TestBackoffTiming:
    async def test_always_crashing_child_follows_the_schedule(
        self, autojump_clock: Any
    ) -> None:
        """
        Backoff 1 s x2 capped at 8 s, no jitter: starts at t = 0, 1, 3, 7, 15, 23.
        """
        starts: list[float] = []

        async def crashy() -> None:
            starts.append(trio.current_time())
            raise RuntimeError("boom")

        spec = Supervisor(
            name="root",
            intensity=100,
            period=5,
            backoff=EXACT,
            children=[Child(name="c", target=crashy)],
        )
        with trio.move_on_after(24):
            async with open_tree(spec):
                await trio.sleep_forever()

        assert [0, 1, 3, 7, 15, 23] == starts

    async def test_backoff_resets_after_a_stable_run(self, autojump_clock: Any) -> None:
        """
        A child that ran for reset_after seconds is restarted after `initial` again.
        """
        starts: list[float] = []
        runs = iter([0, 0, 12, 0])

        async def flaky() -> None:
            starts.append(trio.current_time())
            await trio.sleep(next(runs, 1000))
            raise RuntimeError("boom")

        backoff = Backoff(
            initial=1, factor=2, max=8, jitter=Jitter.NONE, reset_after=10
        )
        spec = Supervisor(
            name="root",
            intensity=100,
            backoff=backoff,
            children=[Child(name="c", target=flaky)],
        )
        with trio.move_on_after(30):
            async with open_tree(spec):
                await trio.sleep_forever()

        # 0 crash -> +1; 1 crash -> +2; 3 runs 12 s, crash at 15 -> reset -> +1; 16 crash -> +2
        assert [0, 1, 3, 16, 18] == starts

    async def test_snapshot_shows_backoff_and_next_start(
        self, autojump_clock: Any
    ) -> None:
        """
        While waiting, the child is in state backoff with its next start time.
        """
        spec = Supervisor(
            name="root",
            intensity=10,
            backoff=EXACT,
            children=[Child(name="c", target=crash_now)],
        )
        async with open_tree(spec) as tree:
            await trio.sleep(0.5)
            node = tree.snapshot().node("root/c")

            assert State.BACKOFF == node.state
            assert 1.0 == node.next_start_at
            assert 1 == node.restarts
            assert "crash" == node.last_exit.reason if node.last_exit else None
            assert (
                "builtins.RuntimeError" == node.last_exit.exc_type
                if node.last_exit
                else None
            )

    async def test_backoff_wait_does_not_block_the_supervisor(
        self, autojump_clock: Any
    ) -> None:
        """
        While one child waits in a long backoff, a sibling's crash is handled at once.
        """
        log: list[tuple[float, str]] = []
        spec = Supervisor(
            name="root",
            intensity=10,
            backoff=Backoff(initial=100, max=100, jitter=Jitter.NONE),
            children=[
                Child(name="slow", target=crash_now),
                Child(name="b", target=recorder(log, "b", crash_after=5)),
            ],
        )
        with trio.move_on_after(200):
            async with open_tree(spec) as tree:
                await trio.sleep(1)
                await tree.terminate_child("root/b")
                await tree.restart_child("root/b")
                await trio.sleep_forever()

        # b: started at 0 (slow's start counts at once), terminated at 1, restarted at 1,
        # crashes at 6 and is restarted at 106 -- all while slow sat in backoff.
        assert (0, "start b") == log[0]
        assert (1, "stop b") == log[1]
        assert (1, "start b") == log[2]
        assert (6, "stop b") == log[3]
        assert (106, "start b") == log[4]


class TestStrategies:
    def spec(
        self, strategy: Strategy, log: list[tuple[float, str]], crashing: str
    ) -> Supervisor:
        return Supervisor(
            name="root",
            strategy=strategy,
            intensity=1,
            period=100,
            backoff=NOW,
            children=[
                Child(
                    name=n,
                    target=recorder(log, n, crash_after=5 if n == crashing else None),
                )
                for n in "abcd"
            ],
        )

    async def run_until(self, spec: Supervisor, t: float) -> None:
        with trio.move_on_after(t):
            async with open_tree(spec):
                await trio.sleep_forever()

    async def test_one_for_one_restarts_only_the_failed_child(
        self, autojump_clock: Any
    ) -> None:
        """
        ONE_FOR_ONE: siblings are untouched.
        """
        log: list[tuple[float, str]] = []
        await self.run_until(self.spec(Strategy.ONE_FOR_ONE, log, "b"), 7)

        assert [(5, "stop b"), (5, "start b")] == [e for e in log if 0 < e[0] < 7]

    async def test_one_for_all_stops_all_in_reverse_and_starts_all(
        self, autojump_clock: Any
    ) -> None:
        """
        ONE_FOR_ALL: the others stop in reverse start order, then all start in order.
        """
        log: list[tuple[float, str]] = []
        await self.run_until(self.spec(Strategy.ONE_FOR_ALL, log, "b"), 7)

        assert [
            "stop b",
            "stop d",
            "stop c",
            "stop a",
            "start a",
            "start b",
            "start c",
            "start d",
        ] == [e for t, e in log if 0 < t < 7]

    async def test_rest_for_one_restarts_the_failed_child_and_later_ones(
        self, autojump_clock: Any
    ) -> None:
        """
        REST_FOR_ONE: children started after the failed one are stopped (reverse) and restarted.
        """
        log: list[tuple[float, str]] = []
        await self.run_until(self.spec(Strategy.REST_FOR_ONE, log, "b"), 7)

        assert ["stop b", "stop d", "stop c", "start b", "start c", "start d"] == [
            e for t, e in log if 0 < t < 7
        ]

    async def test_temporary_sibling_is_not_restarted_by_a_sweep(
        self, autojump_clock: Any
    ) -> None:
        """
        A TEMPORARY child stopped by a ONE_FOR_ALL sweep stays stopped.
        """
        log: list[tuple[float, str]] = []
        spec = Supervisor(
            name="root",
            strategy=Strategy.ONE_FOR_ALL,
            backoff=NOW,
            children=[
                Child(name="a", target=recorder(log, "a", crash_after=5)),
                Child(name="t", target=recorder(log, "t"), restart=Restart.TEMPORARY),
            ],
        )
        async with open_tree(spec) as tree:
            await trio.sleep(6)

            assert ["stop a", "stop t", "start a"] == [e for t, e in log if 0 < t < 6]
            assert State.STOPPED == tree.snapshot().node("root/t").state

    async def test_sweep_restarts_in_order_waiting_for_each_start(
        self, autojump_clock: Any
    ) -> None:
        """
        After a sweep, a later child starts only once the earlier one reported started.
        """
        log: list[tuple[float, str]] = []

        async def slow_start(
            task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
        ) -> None:
            await trio.sleep(2)
            log.append((trio.current_time(), "a ready"))
            task_status.started()
            await trio.sleep_forever()

        spec = Supervisor(
            name="root",
            strategy=Strategy.ONE_FOR_ALL,
            backoff=NOW,
            children=[
                Child(name="a", target=slow_start),
                Child(name="b", target=recorder(log, "b", crash_after=5)),
            ],
        )
        with trio.move_on_after(12):
            async with open_tree(spec):
                await trio.sleep_forever()

        assert [
            (2, "a ready"),
            (2, "start b"),
            (7, "stop b"),
            (9, "a ready"),
            (9, "start b"),
        ] == log[:5]


class TestRestartTypes:
    @pytest.mark.parametrize(
        ("restart", "target", "expected_starts", "expected_state"),
        [
            (Restart.PERMANENT, return_now, 3, State.BACKOFF),
            (Restart.PERMANENT, crash_now, 3, State.BACKOFF),
            (Restart.TRANSIENT, return_now, 1, State.STOPPED),
            (Restart.TRANSIENT, crash_now, 3, State.BACKOFF),
            (Restart.TEMPORARY, return_now, 1, State.STOPPED),
            (Restart.TEMPORARY, crash_now, 1, State.FAILED),
        ],
    )
    async def test_restart_type_decides(
        self,
        autojump_clock: Any,
        restart: Restart,
        target: Target,
        expected_starts: int,
        expected_state: State,
    ) -> None:
        """
        PERMANENT always, TRANSIENT only after a crash, TEMPORARY never.
        """
        spec = Supervisor(
            name="root",
            intensity=10,
            backoff=EXACT,
            children=[
                Child(name="c", target=target, restart=restart),
                Child(name="keep", target=forever),
            ],
        )
        async with open_tree(spec) as tree:
            await trio.sleep(3.5)  # starts at 0, 1, 3 if restarted
            node = tree.snapshot().node("root/c")

            assert (expected_starts, expected_state) == (node.starts, node.state)


class TestIntensity:
    async def test_root_gives_up_with_the_last_failure(
        self, autojump_clock: Any
    ) -> None:
        """
        More than intensity restarts within period: run() raises TooManyRestarts.
        """
        spec = Supervisor(
            name="root",
            intensity=2,
            period=5,
            backoff=NOW,
            children=[Child(name="c", target=crash_now)],
        )
        with pytest.raises(TooManyRestarts) as info:
            await run(spec)

        assert "root" == info.value.path
        assert info.value.last is not None
        assert "boom" == info.value.last.exc_message
        assert 0 == trio.current_time()

    async def test_slow_crashes_never_escalate(self, autojump_clock: Any) -> None:
        """
        Restarts spaced wider than the period never exceed the intensity.
        """
        spec = Supervisor(
            name="root",
            intensity=1,
            period=5,
            backoff=Backoff(initial=6, max=6, jitter=Jitter.NONE),
            children=[Child(name="c", target=crash_now)],
        )
        async with open_tree(spec) as tree:
            await trio.sleep(100)

            assert 17 == tree.snapshot().node("root/c").restarts

    async def test_nested_escalation_restarts_the_subtree_fresh(
        self, autojump_clock: Any
    ) -> None:
        """
        A child supervisor that gives up is a crash of that child; its restart has
        an empty window and fresh backoff, as in OTP.
        """
        starts: list[float] = []

        async def crashy() -> None:
            starts.append(trio.current_time())
            raise RuntimeError("boom")

        inner = Supervisor(
            name="inner",
            intensity=2,
            period=100,
            backoff=EXACT,
            children=[Child(name="c", target=crashy)],
        )
        spec = Supervisor(
            name="root", intensity=1, period=100, backoff=EXACT, children=[inner]
        )
        with (
            structlog.testing.capture_logs() as logs,
            pytest.raises(TooManyRestarts) as info,
        ):
            await run(spec)

        # inner: starts 0, 1, 3 -> gives up at 3; root restarts it after 1 s: 4, 5, 7 -> gives up;
        # the root's second restart exceeds its intensity of 1.
        assert [0, 1, 3, 4, 5, 7] == starts
        assert info.value.last is not None
        assert "escalated" == info.value.last.reason
        events = [e["event"] for e in logs]
        assert 3 == events.count("intensity_exceeded")
        assert 3 == events.count("supervisor_escalated")

    async def test_start_failure_is_retried_and_later_siblings_wait(
        self, autojump_clock: Any
    ) -> None:
        """
        A database that comes up late: its failed starts are retried with backoff,
        and the child after it starts only once it has.
        """
        log: list[tuple[float, str]] = []

        async def db(
            task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
        ) -> None:
            if trio.current_time() < 10:
                raise ConnectionError("db not up yet")
            task_status.started()
            log.append((trio.current_time(), "db up"))
            await trio.sleep_forever()

        spec = Supervisor(
            name="root",
            intensity=3,
            period=5,
            backoff=Backoff(initial=1, factor=2, max=8, jitter=Jitter.NONE),
            children=[
                Child(name="db", target=db),
                Child(name="app", target=recorder(log, "app")),
            ],
        )
        async with open_tree(spec) as tree:
            # open_tree returns once every initial child started: db retried at 1, 3, 7, 15
            assert 15 == trio.current_time()
            assert [(15, "db up"), (15, "start app")] == log
            assert 4 == tree.snapshot().node("root/db").restarts

    async def test_initial_start_fails_when_intensity_runs_out(
        self, autojump_clock: Any
    ) -> None:
        """
        open_tree raises TooManyRestarts if the initial start exhausts the intensity.
        """
        log: list[tuple[float, str]] = []

        async def db(
            task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
        ) -> None:
            raise ConnectionError("db never comes up")

        spec = Supervisor(
            name="root",
            intensity=2,
            period=5,
            backoff=Backoff(initial=1, jitter=Jitter.NONE),
            children=[
                Child(name="db", target=db),
                Child(name="app", target=recorder(log, "app")),
            ],
        )
        with pytest.raises(TooManyRestarts, match="db never comes up"):
            async with open_tree(spec):
                pytest.fail("must not enter")  # pragma: no cover

        assert [] == log
        assert (
            3 == trio.current_time()
        )  # attempts at 0, 1, 3; the third restart is one too many

    async def test_start_timeout_is_a_crash(self, autojump_clock: Any) -> None:
        """
        A child that never calls task_status.started() is cancelled at start_timeout.
        """

        async def never_ready(
            task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
        ) -> None:
            await trio.sleep_forever()

        spec = Supervisor(
            name="root",
            intensity=0,
            backoff=NOW,
            children=[Child(name="c", target=never_ready, start_timeout=2)],
        )
        with pytest.raises(TooManyRestarts) as info:
            await run(spec)

        assert info.value.last is not None
        assert "start_timeout" == info.value.last.reason
        assert 2 == trio.current_time()

    async def test_restart_checkpoints_so_a_crash_loop_stays_cancellable(self) -> None:
        """
        A child that raises before any checkpoint cannot pin the supervisor (real clock).
        """
        spec = Supervisor(
            name="root",
            intensity=10**9,
            period=1,
            backoff=NOW,
            children=[Child(name="c", target=crash_now)],
        )
        with trio.fail_after(5), trio.move_on_after(0.05):
            await run(spec)


class TestStop:
    async def test_tree_stops_in_reverse_start_order(self, autojump_clock: Any) -> None:
        """
        Leaving open_tree stops children in reverse start order, nested ones included.
        """
        log: list[tuple[float, str]] = []
        inner = Supervisor(
            name="inner",
            children=[Child(name=n, target=recorder(log, n)) for n in "xy"],
        )
        spec = Supervisor(
            name="root",
            children=[
                Child(name="a", target=recorder(log, "a")),
                inner,
                Child(name="b", target=recorder(log, "b")),
            ],
        )
        async with open_tree(spec):
            pass

        assert [
            "start a",
            "start x",
            "start y",
            "start b",
            "stop b",
            "stop y",
            "stop x",
            "stop a",
        ] == [e for _, e in log]

    async def test_outside_cancellation_becomes_an_ordered_stop(
        self, autojump_clock: Any
    ) -> None:
        """
        Cancelling the enclosing scope stops children in order, then propagates.
        """
        log: list[tuple[float, str]] = []

        def slow_stopper(name: str) -> Target:
            async def child() -> None:
                log.append((trio.current_time(), f"start {name}"))
                try:
                    await trio.sleep_forever()
                finally:
                    with trio.CancelScope(shield=True):
                        await trio.sleep(1)
                    log.append((trio.current_time(), f"stop {name}"))

            return child

        spec = Supervisor(
            name="root", children=[Child(name=n, target=slow_stopper(n)) for n in "abc"]
        )
        with trio.move_on_after(10) as scope:
            await run(spec)

        assert scope.cancelled_caught
        assert [(11, "stop c"), (12, "stop b"), (13, "stop a")] == log[3:]

    async def test_shutdown_bound_reports_unstopped_and_still_waits(
        self, autojump_clock: Any
    ) -> None:
        """
        A child whose cleanup outlives `shutdown` is reported unstopped; the tree waits.
        """

        async def stubborn() -> None:
            try:
                await trio.sleep_forever()
            finally:
                with trio.CancelScope(shield=True):
                    await trio.sleep(10)

        spec = Supervisor(
            name="root", children=[Child(name="s", target=stubborn, shutdown=2)]
        )
        with structlog.testing.capture_logs() as logs:
            async with open_tree(spec) as tree, trio.open_nursery() as nursery:
                nursery.start_soon(tree.stop)
                await trio.sleep(3)
                state = tree.snapshot().node("root/s").state

        assert State.UNSTOPPED == state
        assert 10 == trio.current_time()
        unstopped = [e for e in logs if e["event"] == "child_unstopped"]
        assert [
            {
                "event": "child_unstopped",
                "path": "root/s",
                "shutdown": 2,
                "reason": "shutdown",
                "log_level": "error",
            }
        ] == unstopped

    async def test_graceful_stop_lets_the_child_return(
        self, autojump_clock: Any
    ) -> None:
        """
        A graceful_stop child sees stop_requested() and returns on its own, uncancelled.
        """
        seen: list[str] = []

        async def polite() -> None:
            stopping = supervisor.stop_requested()
            await stopping.wait()
            await trio.sleep(1)  # finishing the current message
            seen.append(f"returned at {trio.current_time()}")

        spec = Supervisor(
            name="root",
            children=[Child(name="p", target=polite, graceful_stop=True, shutdown=5)],
        )
        async with open_tree(spec):
            await trio.sleep(1)

        assert ["returned at 2.0"] == seen

    async def test_graceful_stop_is_cancelled_after_the_bound(
        self, autojump_clock: Any
    ) -> None:
        """
        A graceful_stop child that does not return within `shutdown` is cancelled.
        """
        seen: list[float] = []

        async def deaf() -> None:
            try:
                await trio.sleep_forever()
            finally:
                seen.append(trio.current_time())

        spec = Supervisor(
            name="root",
            children=[Child(name="d", target=deaf, graceful_stop=True, shutdown=3)],
        )
        async with open_tree(spec):
            pass

        assert [3] == seen

    async def test_keyboard_interrupt_in_a_child_stops_the_tree_in_order(
        self, autojump_clock: Any
    ) -> None:
        """
        KeyboardInterrupt is never swallowed: the tree stops in order, then run() re-raises it.
        """
        log: list[tuple[float, str]] = []

        async def interrupt() -> None:
            await trio.sleep(1)
            raise KeyboardInterrupt

        spec = Supervisor(
            name="root",
            children=[
                Child(name="a", target=recorder(log, "a")),
                Child(name="k", target=interrupt),
                Child(name="b", target=recorder(log, "b")),
            ],
        )
        with pytest.raises(KeyboardInterrupt):
            await run(spec)

        assert ["start a", "start b", "stop b", "stop a"] == [e for _, e in log]

    async def test_stop_requested_outside_a_child_is_an_error(self) -> None:
        """
        stop_requested() outside a supervised child raises NotInChild.
        """
        with pytest.raises(supervisor.NotInChild):
            supervisor.stop_requested()


class TestSignificant:
    async def test_any_significant_ends_the_supervisor(
        self, autojump_clock: Any
    ) -> None:
        """
        ANY_SIGNIFICANT: the first significant child to finish ends the supervisor normally.
        """
        log: list[tuple[float, str]] = []

        async def job() -> None:
            await trio.sleep(4)

        spec = Supervisor(
            name="root",
            auto_shutdown=AutoShutdown.ANY_SIGNIFICANT,
            children=[
                Child(name="w", target=recorder(log, "w")),
                Child(
                    name="job", target=job, restart=Restart.TRANSIENT, significant=True
                ),
            ],
        )
        await run(spec)

        assert 4 == trio.current_time()
        assert [(0, "start w"), (4, "stop w")] == log

    async def test_all_significant_waits_for_the_last(
        self, autojump_clock: Any
    ) -> None:
        """
        ALL_SIGNIFICANT: the supervisor ends when the last significant child has ended.
        """

        async def job(seconds: float) -> None:
            await trio.sleep(seconds)

        spec = Supervisor(
            name="root",
            auto_shutdown=AutoShutdown.ALL_SIGNIFICANT,
            children=[
                Child(
                    name="a",
                    target=job,
                    args=(2,),
                    restart=Restart.TEMPORARY,
                    significant=True,
                ),
                Child(
                    name="b",
                    target=job,
                    args=(5,),
                    restart=Restart.TEMPORARY,
                    significant=True,
                ),
                Child(name="w", target=forever),
            ],
        )
        await run(spec)

        assert 5 == trio.current_time()


class TestDynamic:
    async def test_children_from_a_template_with_a_cap(
        self, autojump_clock: Any
    ) -> None:
        """
        start_child on a dynamic supervisor appends args to the template's; max_children caps it.
        """
        seen: list[tuple[str, int]] = []

        async def worker(kind: str, n: int) -> None:
            seen.append((kind, n))
            await trio.sleep_forever()

        pool = DynamicSupervisor(
            name="pool",
            template=Child(name="w", target=worker, args=("job",)),
            max_children=2,
        )
        async with open_tree(Supervisor(name="root", children=[pool])) as tree:
            first = await tree.start_child("root/pool", args=(1,))
            second = await tree.start_child("root/pool", args=(2,), name="special")
            with pytest.raises(supervisor.TooManyChildren):
                await tree.start_child("root/pool", args=(3,))
            await tree.terminate_child(first)
            third = await tree.start_child("root/pool", args=(3,))

            assert ("root/pool/w-1", "root/pool/special", "root/pool/w-2") == (
                first,
                second,
                third,
            )
            assert [("job", 1), ("job", 2), ("job", 3)] == seen
            assert ["special", "w-2"] == [
                c.name for c in tree.which_children("root/pool")
            ]

    async def test_dynamic_children_restart_one_for_one_and_ended_ones_go(
        self, autojump_clock: Any
    ) -> None:
        """
        A crashing dynamic child is restarted; a TEMPORARY one that ended is removed.
        """
        pool = DynamicSupervisor(
            name="pool",
            template=Child(name="w", target=crash_now, restart=Restart.TEMPORARY),
            backoff=NOW,
        )
        async with open_tree(Supervisor(name="root", children=[pool])) as tree:
            await tree.start_child("root/pool")
            await trio.sleep(1)

            assert [] == tree.which_children("root/pool")


class TestTreeCalls:
    def spec(self) -> Supervisor:
        return Supervisor(
            name="root",
            backoff=NOW,
            children=[
                Child(name="a", target=forever),
                Supervisor(name="sub", children=[Child(name="x", target=forever)]),
            ],
        )

    async def test_terminate_restart_delete(self, autojump_clock: Any) -> None:
        """
        terminate keeps the spec, restart starts it again, delete forgets a stopped child.
        """
        async with open_tree(self.spec()) as tree:
            await tree.terminate_child("root/sub/x")

            assert State.STOPPED == tree.snapshot().node("root/sub/x").state

            await tree.restart_child("root/sub/x")
            node = tree.snapshot().node("root/sub/x")

            assert (State.RUNNING, 2, 0) == (node.state, node.starts, node.restarts)
            with pytest.raises(supervisor.ChildRunning):
                await tree.delete_child("root/sub/x")

            await tree.terminate_child("root/sub/x")
            await tree.delete_child("root/sub/x")

            assert [] == tree.which_children("root/sub")

    async def test_restart_child_restarts_a_running_child(
        self, autojump_clock: Any
    ) -> None:
        """
        restart_child on a running child stops and starts it, without counting a restart.
        """
        async with open_tree(self.spec()) as tree:
            await tree.restart_child("root/a")
            node = tree.snapshot().node("root/a")

            assert (State.RUNNING, 2, 0) == (node.state, node.starts, node.restarts)

    async def test_start_child_adds_after_the_others(self, autojump_clock: Any) -> None:
        """
        start_child on a static supervisor adds a spec; a taken name is refused.
        """
        async with open_tree(self.spec()) as tree:
            path = await tree.start_child("root", Child(name="b", target=forever))

            assert "root/b" == path
            assert ["a", "sub", "b"] == [c.name for c in tree.which_children("root")]
            with pytest.raises(supervisor.ChildExists):
                await tree.start_child("root", Child(name="b", target=forever))
            with pytest.raises(supervisor.SpecError):
                await tree.start_child("root", args=(1,))

    async def test_count_children(self, autojump_clock: Any) -> None:
        """
        count_children counts specs, active children, supervisors and workers.
        """
        async with open_tree(self.spec()) as tree:
            await tree.terminate_child("root/a")

            assert supervisor.ChildCounts(
                specs=2, active=1, supervisors=1, workers=1
            ) == tree.count_children("root")

    @pytest.mark.parametrize(
        ("call", "path", "error"),
        [
            ("terminate_child", "root/nope", "ChildLookupError"),
            ("terminate_child", "other/a", "ChildLookupError"),
            ("terminate_child", "root/sub/nope", "ChildLookupError"),
            ("terminate_child", "root/a/x", "NotSupported"),
            ("terminate_child", "root", "NotSupported"),
            ("restart_child", "root/nope", "ChildLookupError"),
            ("delete_child", "root/nope", "ChildLookupError"),
            ("which_children", "root/a", "NotSupported"),
            ("count_children", "nope", "ChildLookupError"),
        ],
    )
    async def test_bad_paths_get_clear_errors(
        self, autojump_clock: Any, call: str, path: str, error: str
    ) -> None:
        """
        A path that names no suitable node raises a specific, LookupError-style error.
        """
        async with open_tree(self.spec()) as tree:
            method = getattr(tree, call)

            async def attempt() -> None:
                result = method(path)
                if hasattr(result, "__await__"):
                    await result

            with pytest.raises(
                getattr(supervisor, error), match=path.split("/", maxsplit=1)[0]
            ):
                await attempt()

    async def test_lookup_error_is_a_lookup_error(self, autojump_clock: Any) -> None:
        """
        ChildLookupError is a LookupError, so generic handlers catch it.
        """
        async with open_tree(self.spec()) as tree:
            with pytest.raises(LookupError, match="no child named 'nope' under root"):
                await tree.terminate_child("root/nope")

    async def test_calls_after_stop_raise_tree_not_running(
        self, autojump_clock: Any
    ) -> None:
        """
        Control calls on a stopped tree raise TreeNotRunning.
        """
        async with open_tree(self.spec()) as tree:
            await tree.stop()
            with pytest.raises(supervisor.TreeNotRunning):
                await tree.restart_child("root/a")

    async def test_tree_has_no_public_constructor(self) -> None:
        """
        Tree handles come from open_tree only.
        """
        with pytest.raises(TypeError, match="no public constructor"):
            supervisor.Tree(self.spec())


class TestSnapshotAndEvents:
    async def test_snapshot_is_json_serialisable_and_versioned(
        self, autojump_clock: Any
    ) -> None:
        """
        The snapshot round-trips through json; its version changes with the tree.
        """
        spec = Supervisor(
            name="root",
            intensity=10,
            backoff=EXACT,
            children=[
                Child(name="c", target=crash_now),
                Child(name="ok", target=forever),
            ],
        )
        async with open_tree(spec) as tree:
            first = tree.snapshot()
            await trio.sleep(0.5)
            await trio.testing.wait_all_tasks_blocked()
            unchanged = tree.snapshot()
            await trio.sleep(1)
            second = tree.snapshot()
            data = json.loads(json.dumps(second.as_dict()))

        assert first.version == unchanged.version
        assert second.version > first.version
        assert "root" == data["root"]["path"]
        assert ["root/c", "root/ok"] == [c["path"] for c in data["root"]["children"]]
        assert "one_for_one" == data["root"]["strategy"]
        ok = second.node("root/ok")
        assert (State.RUNNING, 1.5) == (ok.state, ok.uptime)

    async def test_one_event_per_transition(self, autojump_clock: Any) -> None:
        """
        A crash and its restart produce child_crashed, child_restart_scheduled, child_restarted.
        """
        runs = iter([1, math.inf])

        async def once() -> None:
            await trio.sleep(next(runs))
            raise ValueError("bad input")

        spec = Supervisor(
            name="root", backoff=EXACT, children=[Child(name="c", target=once)]
        )
        with structlog.testing.capture_logs() as logs:
            async with open_tree(spec):
                await trio.sleep(5)

        child_events = [
            (e["event"], e.get("reason"), e.get("delay"))
            for e in logs
            if e.get("path") == "root/c"
        ]
        assert [
            ("child_started", None, None),
            ("child_crashed", "crash", None),
            ("child_restart_scheduled", None, 1.0),
            ("child_restarted", None, None),
            ("child_stopping", None, None),
            ("child_stopped", None, None),
        ] == child_events
        crashed = next(e for e in logs if e["event"] == "child_crashed")
        assert ("builtins.ValueError", "bad input") == (
            crashed["exc_type"],
            crashed["exc_message"],
        )
        assert isinstance(crashed["exc_info"], ValueError)


class TestLongRuns:
    async def test_zero_backoff_survives_thousands_of_restarts(
        self, autojump_clock: Any
    ) -> None:
        """
        Backoff(initial=0) restarts 5,000 times without the schedule overflowing.
        """
        count = 0

        async def crashy() -> None:
            nonlocal count
            count += 1
            if count > 5000:
                await trio.sleep_forever()
            raise RuntimeError("boom")

        spec = Supervisor(
            name="root",
            intensity=10**6,
            period=1,
            backoff=NOW,
            children=[Child(name="c", target=crashy)],
        )
        async with open_tree(spec) as tree:
            await trio.testing.wait_all_tasks_blocked()

            assert 5000 == tree.snapshot().node("root/c").restarts


class TestDynamicTemplates:
    async def test_supervisor_template(self, autojump_clock: Any) -> None:
        """
        A dynamic supervisor can start whole subtrees from a Supervisor template.
        """
        log: list[tuple[float, str]] = []
        template = Supervisor(
            name="shard", children=[Child(name="w", target=recorder(log, "w"))]
        )
        pool = DynamicSupervisor(name="pool", template=template)
        async with open_tree(Supervisor(name="root", children=[pool])) as tree:
            path = await tree.start_child("root/pool", name="eu")
            with pytest.raises(supervisor.SpecError):
                await tree.start_child("root/pool", args=(1,))

            assert "root/pool/eu" == path
            assert State.RUNNING == tree.snapshot().node("root/pool/eu/w").state
            assert ["w"] == [c.name for c in tree.which_children("root/pool/eu")]

        assert ["start w", "stop w"] == [e for _, e in log]


class TestCrashEvidence:
    async def test_traceback_starts_in_the_childs_code(
        self, autojump_clock: Any
    ) -> None:
        """
        The snapshot's traceback summary and the logged exception show the child's
        own frames, not the supervisor's wrapper.
        """

        async def inner() -> None:
            raise KeyError("missing")

        async def outer() -> None:
            await inner()

        spec = Supervisor(
            name="root", backoff=EXACT, children=[Child(name="c", target=outer)]
        )
        with structlog.testing.capture_logs() as logs:
            async with open_tree(spec) as tree:
                await trio.sleep(0.5)
                last = tree.snapshot().node("root/c").last_exit

        assert last is not None
        assert [f"in {name}" for name in ("outer", "inner")] == [
            f[f.rindex("in ") :] for f in last.traceback
        ]
        assert last.traceback[0].startswith(__file__)
        logged = next(e["exc_info"] for e in logs if e["event"] == "child_crashed")
        assert "outer" == logged.__traceback__.tb_frame.f_code.co_name
