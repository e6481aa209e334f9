"""
OTP semantics docs/principles.md settles as OTP and Elixir do: what
count_children calls active, the exit reason of a child that returns while its
supervisor stops, a dynamic supervisor's parallel stop, and the restart
counters. Autojump MockClock: exact virtual times.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
import structlog
import trio
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

import supervisor
from supervisor import (
    Backoff,
    Child,
    ChildCounts,
    DynamicSupervisor,
    Jitter,
    Reason,
    State,
    Strategy,
    Supervisor,
    open_tree,
)
from supervisor.metrics import TreeCollector, registry_for

EXACT = Backoff(initial=1, factor=2, max=8, jitter=Jitter.NONE)


async def forever() -> None:
    await trio.sleep_forever()


def draining(seconds: float) -> Any:
    """Runs until cancelled, then takes *seconds* to clean up."""

    async def child() -> None:
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await trio.sleep(seconds)

    return child


class TestCountChildren:
    async def test_active_counts_only_children_that_run(
        self, autojump_clock: Any
    ) -> None:
        """
        One running, one in backoff, one still starting: active is 1, specs 3, and
        the two that do not run still count against max_children.
        """

        async def behave(kind: str, task_status: Any) -> None:
            if kind == "crash":
                raise RuntimeError("down")
            if kind == "slow":
                await trio.sleep(100)
            task_status.started()
            await trio.sleep_forever()

        pool = DynamicSupervisor(
            name="pool",
            template=Child(name="w", target=behave, start_timeout=200),
            backoff=EXACT,
            max_children=3,
        )
        async with (
            open_tree(Supervisor(name="root", children=[pool])) as tree,
            trio.open_nursery() as nursery,
        ):
            await tree.start_child("root/pool", args=("ok",))
            await tree.start_child("root/pool", args=("crash",))  # now in backoff
            nursery.start_soon(
                functools.partial(tree.start_child, "root/pool", args=("slow",))
            )
            await trio.sleep(0.5)
            states = [n.state for n in tree.which_children("root/pool")]
            counts = tree.count_children("root/pool")
            with pytest.raises(supervisor.TooManyChildren):
                await tree.start_child("root/pool", args=("ok",))
            nursery.cancel_scope.cancel()

        assert [State.RUNNING, State.BACKOFF, State.STARTING] == states
        assert ChildCounts(specs=3, active=1, supervisors=0, workers=3) == counts


class TestReasonWhileStopping:
    async def test_child_returning_by_itself_during_a_stop_keeps_normal(
        self, autojump_clock: Any
    ) -> None:
        """
        The stop begins at t=0.5 with b (2 s to clean up); a returns by itself at
        t=1, before its stop came: its exit is normal, b's is shutdown.
        """

        async def returns_at_1() -> None:
            await trio.sleep(1)

        spec = Supervisor(
            name="root",
            children=[
                Child(name="a", target=returns_at_1),
                Child(name="b", target=draining(2)),
            ],
        )
        with structlog.testing.capture_logs() as logs:
            async with open_tree(spec) as tree:
                await trio.sleep(0.5)
                await tree.stop()
                snap = tree.snapshot()

        exits = {
            name: (n.state, n.last_exit.reason, n.last_exit.time, n.restarts)
            for name in "ab"
            if (n := snap.node(f"root/{name}")).last_exit is not None
        }
        assert {
            "a": (State.STOPPED, Reason.NORMAL, 1.0, 0),
            "b": (State.STOPPED, Reason.SHUTDOWN, 2.5, 0),
        } == exits
        events = [(e["path"], e["event"]) for e in logs if e["path"] != "root"]
        assert ("root/a", "child_exited") in events
        assert ("root/a", "child_stopped") not in events

    async def test_graceful_child_returning_when_asked_is_shutdown(
        self, autojump_clock: Any
    ) -> None:
        """
        A graceful_stop child that returns because it was asked to was stopped
        by its supervisor: shutdown, not normal.
        """

        async def polite() -> None:
            await supervisor.stop_requested().wait()

        spec = Supervisor(
            name="root", children=[Child(name="p", target=polite, graceful_stop=True)]
        )
        async with open_tree(spec) as tree:
            await tree.stop()
            node = tree.snapshot().node("root/p")

        assert node.last_exit is not None
        assert Reason.SHUTDOWN == node.last_exit.reason


class TestParallelStop:
    async def test_dynamic_pool_drains_in_one_shutdown_budget(
        self, autojump_clock: Any
    ) -> None:
        """
        100 dynamic children each taking 1 s to clean up stop in 1 s, not 100 s.
        """
        pool = DynamicSupervisor(
            name="pool", template=Child(name="w", target=draining(1))
        )
        async with open_tree(Supervisor(name="root", children=[pool])) as tree:
            for _ in range(100):
                await tree.start_child("root/pool")
            began = trio.current_time()
            await tree.stop()
            took = trio.current_time() - began
            states = {n.state for n in tree.snapshot().node("root/pool").children}

        assert 1.0 == took
        assert {State.STOPPED} == states

    async def test_static_supervisor_still_stops_in_reverse_order(
        self, autojump_clock: Any
    ) -> None:
        """
        A static supervisor's three 1 s cleanups run one after another: 3 s.
        """
        spec = Supervisor(
            name="root",
            children=[Child(name=n, target=draining(1)) for n in "abc"],
        )
        async with open_tree(spec) as tree:
            began = trio.current_time()
            await tree.stop()
            ends = {
                n.name: n.last_exit.time - began
                for n in tree.snapshot().root.children
                if n.last_exit is not None
            }

        assert {"c": 1.0, "b": 2.0, "a": 3.0} == ends


class TestRestartCounters:
    async def test_own_sweep_and_manual_restarts_are_told_apart(
        self, autojump_clock: Any
    ) -> None:
        """
        ONE_FOR_ALL over a, b, c: b crashes once (its own restart; a and c swept),
        then restart_child restarts a. Each counter says which, in the snapshot,
        /status's dict and the metrics.
        """
        crashed = False

        async def b() -> None:
            nonlocal crashed
            if not crashed:
                crashed = True
                await trio.sleep(1)
                raise RuntimeError("b failed")
            await trio.sleep_forever()

        spec = Supervisor(
            name="root",
            strategy=Strategy.ONE_FOR_ALL,
            backoff=EXACT,
            children=[
                Child(name="a", target=forever),
                Child(name="b", target=b),
                Child(name="c", target=forever),
            ],
        )
        async with open_tree(spec) as tree:
            await trio.sleep(5)
            await tree.restart_child("root/a")
            snap = tree.snapshot()
            registry = registry_for(TreeCollector(tree.snapshot, tree.observer.checks))
            text = _exposition(registry)

        counters = {
            n.name: (n.starts, n.restarts, n.sweep_restarts, n.manual_restarts)
            for n in snap.root.children
        }
        assert {"a": (3, 0, 1, 1), "b": (2, 1, 0, 0), "c": (2, 0, 1, 0)} == counters
        as_dict = snap.node("root/a").as_dict()
        assert (0, 1, 1) == (
            as_dict["restarts"],
            as_dict["sweep_restarts"],
            as_dict["manual_restarts"],
        )
        restarts = {
            (s.labels["path"], s.labels["reason"]): s.value
            for family in text_string_to_metric_families(text)
            if family.name == "supervisor_child_restarts"
            for s in family.samples
            if s.name == "supervisor_child_restarts_total" and s.value  # not the 0s
        }
        assert {
            ("root/a", "sweep"): 1.0,
            ("root/a", "manual"): 1.0,
            ("root/b", "crash"): 1.0,
            ("root/c", "sweep"): 1.0,
        } == restarts


def _exposition(registry: Any) -> str:
    return generate_latest(registry).decode()
