"""
Fleet singletons in one process against a real etcd: two trees as two
instances (each `open_tree` has its own lease and coordinator). A stopping
holder resigns at once; a holder that loses etcd stops its child before its
lease can expire, and runs it again once etcd is back; fencing tokens grow.
"""

from __future__ import annotations

import time

import httpx
import trio

import supervisor
from supervisor import Child, EtcdOptions, State, Supervisor
from tests.integrations.conftest import EtcdServer

Log = list[tuple[str, str, int, float]]


def tree_of(log: Log, name: str) -> Supervisor:
    async def job() -> None:
        token = supervisor.fencing_token()
        log.append(("start", name, token, time.perf_counter()))
        try:
            await trio.sleep_forever()
        finally:
            log.append(("stop", name, token, time.perf_counter()))

    return Supervisor(
        name="root", children=[Child(name="cron", target=job, singleton=True)]
    )


def options(etcd: EtcdServer, instance: str, ttl: int = 10) -> EtcdOptions:
    return EtcdOptions(
        endpoints=[etcd.url], service="jobs", instance=instance, ttl=ttl, interval=0.1
    )


async def until(check: object, limit: float = 10.0) -> float:
    began = time.perf_counter()
    with trio.fail_after(limit):
        # Polled: the states of two trees (and etcd, another process) decide.
        while not check():  # type: ignore[operator]  # noqa: ASYNC110
            await trio.sleep(0.02)
    return time.perf_counter() - began


async def holder_gauge(tree: supervisor.Tree) -> float:
    """``supervisor_singleton_holder{path="root/cron"}`` from the tree's /metrics."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://{tree.http_addresses[0]}/metrics")).text
    [line] = [
        line
        for line in text.splitlines()
        if line.startswith('supervisor_singleton_holder{path="root/cron"}')
    ]
    return float(line.rpartition(" ")[2])


def state(tree: supervisor.Tree) -> State | None:
    return tree.child_state("root/cron")


async def test_a_stopping_holder_resigns_at_once(etcd: EtcdServer) -> None:
    log: Log = []
    async with (
        supervisor.open_tree(
            tree_of(log, "b"), http="127.0.0.1:0", etcd=options(etcd, "b")
        ) as b,
        supervisor.open_tree(
            tree_of(log, "a"), http="127.0.0.1:0", etcd=options(etcd, "a")
        ) as a,
    ):
        await until(lambda: State.RUNNING in (state(a), state(b)))
        holder, other = (a, b) if state(a) is State.RUNNING else (b, a)
        await until(lambda: state(other) is State.STANDBY)
        await trio.sleep(0.5)
        assert [e[0] for e in log] == ["start"]  # exactly one runs it
        assert other.observer.verdicts()["readyz"]  # standby is ready
        assert await holder_gauge(holder) == 1.0
        assert await holder_gauge(other) == 0.0
        stop = trio.current_time()
        await holder.stop()
        # Not the 10 s TTL: the stopping holder revoked its lease.
        took = await until(lambda: state(other) is State.RUNNING)
        assert took < 2
        assert trio.current_time() - stop < 3
    starts = [e for e in log if e[0] == "start"]
    assert len(starts) == 2
    assert starts[1][2] > starts[0][2]  # the fencing token grew
    [first_stop] = [e for e in log if e[0] == "stop" and e[1] == starts[0][1]][:1]
    assert first_stop[3] <= starts[1][3]  # one holder at a time


async def test_the_holder_stops_before_its_lease_can_expire(etcd: EtcdServer) -> None:
    ttl = 3
    log: Log = []
    async with supervisor.open_tree(
        tree_of(log, "a"), etcd=options(etcd, "a", ttl)
    ) as a:
        await until(lambda: state(a) is State.RUNNING)
        token = log[0][2]
        killed = time.perf_counter()
        await trio.to_thread.run_sync(etcd.kill)
        await until(lambda: state(a) is State.STANDBY, limit=ttl + 2)
        stopped = next(e[3] for e in log if e[0] == "stop")
        # The last renewal answered was at most ttl/3 before the kill; the lease
        # cannot expire before it + ttl. The child stopped at that renewal +
        # 2/3 ttl at the latest: before the expiry, whatever the renewal was.
        window = stopped - killed
        print(f"etcd killed -> singleton stopped {window:.3f} s (TTL {ttl} s)")
        assert window <= ttl * 2 / 3 + 0.3
        assert window < ttl
        assert a.observer.verdicts()["livez"]  # the outage never hurt the tree
        await trio.to_thread.run_sync(etcd.start)
        await until(lambda: state(a) is State.RUNNING, limit=20)
        assert log[-1][0] == "start"
        assert log[-1][2] > token
