"""
Fleet singletons of every shape against a real etcd: a singleton supervisor
whose children read the fencing token, singletons in a dynamic and a nested
supervisor, two singletons at once, a singleton that keeps crashing (it
hands over to the standby instance each time it resigns), and an OS process
singleton stopped (and reaped) when its holder leaves the fleet.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import attrs
import pytest
import trio

import supervisor
from supervisor import (
    Check,
    Child,
    DynamicSupervisor,
    EtcdOptions,
    Process,
    State,
    Supervisor,
)
from tests.integrations.conftest import EtcdServer


def options(etcd: EtcdServer, instance: str) -> EtcdOptions:
    return EtcdOptions(
        endpoints=[etcd.url], service="kinds", instance=instance, ttl=10, interval=0.1
    )


async def until(check: Callable[[], bool], limit: float = 10.0) -> None:
    with trio.fail_after(limit):
        while not check():  # noqa: ASYNC110 - two trees and etcd decide: polled
            await trio.sleep(0.02)


async def test_nested_dynamic_and_two_singletons(etcd: EtcdServer) -> None:
    tokens: list[int] = []

    async def reads_token() -> None:
        tokens.append(supervisor.fencing_token())  # a child of a singleton
        await trio.sleep_forever()

    spec = Supervisor(
        name="root",
        children=[
            Supervisor(
                name="jobs",
                singleton=True,
                children=[Child(name="reader", target=reads_token)],
            ),
            Supervisor(
                name="inner",
                children=[
                    Child(name="cron", target=trio.sleep_forever, singleton=True)
                ],
            ),
            DynamicSupervisor(
                name="pool",
                template=Child(name="t", target=trio.sleep_forever, singleton=True),
            ),
        ],
    )
    async with supervisor.open_tree(spec, etcd=options(etcd, "a")) as tree:
        await until(lambda: tree.child_state("root/jobs") is State.RUNNING)
        await until(lambda: tree.child_state("root/inner/cron") is State.RUNNING)
        await until(lambda: tree.child_state("root/jobs/reader") is State.RUNNING)
        assert tokens
        assert tokens[0] > 0
        path = await tree.start_child("root/pool")
        await until(lambda: tree.child_state(path) is State.RUNNING)
        assert tree.observer.verdicts()["readyz"]


async def test_a_crashing_singleton_hands_over_to_the_standby(
    etcd: EtcdServer,
) -> None:
    ran: list[tuple[str, int, float]] = []

    def spec_of(name: str, crash: bool) -> Supervisor:
        async def job() -> None:
            ran.append((name, supervisor.fencing_token(), time.perf_counter()))
            if crash:
                raise RuntimeError("boom")
            await trio.sleep_forever()

        return Supervisor(
            name="root",
            intensity=100,
            children=[Child(name="cron", target=job, singleton=True)],
        )

    async with supervisor.open_tree(spec_of("a", True), etcd=options(etcd, "a")) as a:
        await until(lambda: bool(ran))
        async with supervisor.open_tree(
            spec_of("b", False), etcd=options(etcd, "b")
        ) as b:
            # a crashes, resigns (not a lost term: its crash is counted), and
            # b, queued in the election before a campaigns again, takes over.
            await until(lambda: b.child_state("root/cron") is State.RUNNING, 15)
            # Once its backoff is over, a waits in standby: it never runs again.
            await until(lambda: a.child_state("root/cron") is State.STANDBY, 15)
            runs = len(ran)
            await trio.sleep(0.5)
            assert b.child_state("root/cron") is State.RUNNING
            assert len(ran) == runs
            assert ran[-1][0] == "b"
            assert a.snapshot().node("root/cron").restarts >= 1
    tokens = [t for _, t, _ in ran]
    assert tokens == sorted(tokens)  # every holder a newer term


async def test_a_process_singleton_stops_when_its_holder_turns_unready(
    etcd: EtcdServer,
) -> None:
    healthy = True

    async def probe() -> None:
        if not healthy:
            raise RuntimeError("unready")

    spec = Supervisor(
        name="root",
        children=[
            Process(name="job", argv=["sleep", "600"], singleton=True, shutdown=2)
        ],
    )
    check = Check(name="flag", fn=probe, interval=0.05, failure_threshold=1)
    opts = attrs.evolve(options(etcd, "a"), failures=1)
    async with supervisor.open_tree(spec, checks=[check], etcd=opts) as tree:
        await until(lambda: tree.child_state("root/job") is State.RUNNING)
        [job] = tree.snapshot().root.children
        assert job.process is not None
        pid = job.process.pid
        assert pid is not None
        healthy = False  # leaves the fleet: the term ends, the process stops
        await until(lambda: tree.child_state("root/job") is State.STANDBY)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # stopped and reaped: no orphan
        healthy = True
        await until(lambda: tree.child_state("root/job") is State.RUNNING)
