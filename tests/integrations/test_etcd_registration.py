"""
Registration against a real etcd (the `etcd` fixture): the key and its value,
revoked at once after N readiness failures and back on recovery, gone before
the children stop, back after etcd was killed and restarted, a second instance
refused, and the outage shown. Real clock (a real server is the point);
bounds are generous, and every wait polls with a deadline.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable

import httpx
import trio

import supervisor
from supervisor import Check, Child, EtcdOptions, Supervisor
from supervisor.integrations.etcd._client import EtcdClient
from tests.integrations.conftest import EtcdServer

KEY = "/services/api/a"


def options(etcd: EtcdServer, **changes: object) -> EtcdOptions:
    base: dict[str, object] = {
        "endpoints": [etcd.url],
        "service": "api",
        "instance": "a",
        "ttl": 10,
        "interval": 0.1,
    }
    base.update(changes)
    return EtcdOptions(**base)  # type: ignore[arg-type]


async def until(check: Callable[[], Awaitable[bool]], limit: float = 10.0) -> float:
    """Poll *check* until it holds; the seconds it took (fails past *limit*)."""
    began = time.perf_counter()
    with trio.fail_after(limit):
        while not await check():  # noqa: ASYNC110 - etcd is another process: polled
            await trio.sleep(0.02)
    return time.perf_counter() - began


def key_present(client: EtcdClient, key: str = KEY) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        try:
            return bool(await client.get(key))
        except supervisor.EtcdError:
            return False

    return check


def key_absent(client: EtcdClient, key: str = KEY) -> Callable[[], Awaitable[bool]]:
    present = key_present(client, key)

    async def check() -> bool:
        return not await present()

    return check


def spec(*children: Child) -> Supervisor:
    return Supervisor(
        name="root",
        children=list(children) or [Child(name="w", target=trio.sleep_forever)],
    )


def etcd_item(tree: supervisor.Tree) -> tuple[str, str]:
    items = {i.name: i for i in tree.observer.verdict("readyz")}
    item = items["etcd"]
    return item.status, item.reason


async def test_registers_the_key_with_its_value(etcd: EtcdServer) -> None:
    async with (
        EtcdClient([etcd.url]) as client,
        supervisor.open_tree(
            spec(), http="127.0.0.1:0", etcd=options(etcd, metadata={"zone": "z1"})
        ) as tree,
    ):
        latency = await until(key_present(client))
        [kv] = await client.get(KEY)
        value = json.loads(kv.value)
        port = int(tree.http_addresses[0].rpartition(":")[2])
        assert value["url"] == f"http://127.0.0.1:{port}"
        assert value["address"] == "127.0.0.1"
        assert value["port"] == port
        assert value["instance"] == "a"
        assert value["metadata"] == {"zone": "z1"}
        assert abs(value["started_at"] - time.time()) < 60
        assert kv.lease != 0  # lease-bound: it vanishes with the instance
        assert latency < 5
        # Visible: an INFO item of readiness, and the metric.
        assert etcd_item(tree) == ("pass", "registered as /services/api/a")
        async with httpx.AsyncClient() as http:
            base = f"http://{tree.http_addresses[0]}"
            metrics = (await http.get(f"{base}/metrics")).text
            verbose = (await http.get(f"{base}/readyz?verbose")).text
            status = (await http.get(f"{base}/status")).json()
        assert 'supervisor_etcd_registered{service="api"} 1.0' in metrics
        assert "etcd" in verbose
        [item] = [c for c in status["checks"] if c["name"] == "etcd"]
        assert item["feeds"] == "info"


async def test_unready_revokes_at_once_and_ready_registers_again(
    etcd: EtcdServer,
) -> None:
    healthy = True

    async def probe() -> None:
        if not healthy:
            raise RuntimeError("database down")

    check = Check(name="db", fn=probe, interval=0.05, failure_threshold=1)
    async with (
        EtcdClient([etcd.url]) as client,
        supervisor.open_tree(
            spec(), checks=[check], etcd=options(etcd, failures=3, ttl=30)
        ) as tree,
    ):
        await until(key_present(client))
        healthy = False
        gone = await until(key_absent(client))
        # Three observations 0.1 s apart, then one revoke: not the 30 s TTL.
        assert gone < 3
        assert not tree.observer.verdicts()["readyz"]
        # INFO: shown (once the revoke returned), never failing readiness.
        await until(lambda: _async(etcd_item(tree)[0] == "warn"), limit=2)
        healthy = True
        back = await until(key_present(client))
        assert back < 3
        [kv] = await client.get(KEY)
        assert json.loads(kv.value)["instance"] == "a"


async def test_a_short_blip_does_not_deregister(etcd: EtcdServer) -> None:
    healthy = True

    async def probe() -> None:
        if not healthy:
            raise RuntimeError("blip")

    check = Check(name="db", fn=probe, interval=0.05, failure_threshold=1)
    async with (
        EtcdClient([etcd.url]) as client,
        supervisor.open_tree(
            spec(), checks=[check], etcd=options(etcd, failures=5, interval=0.2)
        ),
    ):
        await until(key_present(client))
        [before] = await client.get(KEY)
        healthy = False
        await trio.sleep(0.3)  # fewer than 5 observations: a blip
        healthy = True
        await trio.sleep(0.5)
        [after] = await client.get(KEY)
        assert after.lease == before.lease  # the same registration throughout


async def test_deregisters_before_the_children_stop(etcd: EtcdServer) -> None:
    seen_at_stop: list[bool] = []

    async def worker() -> None:
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                async with EtcdClient([etcd.url]) as client:
                    seen_at_stop.append(bool(await client.get(KEY)))

    async with EtcdClient([etcd.url]) as client:
        async with supervisor.open_tree(
            spec(Child(name="w", target=worker)), etcd=options(etcd)
        ):
            await until(key_present(client))
        assert seen_at_stop == [False]  # gone already when the child began to stop
        assert not await client.get(KEY)


async def test_registration_comes_back_after_etcd_restarts(etcd: EtcdServer) -> None:
    async with (
        EtcdClient([etcd.url]) as client,
        supervisor.open_tree(spec(), etcd=options(etcd, ttl=3)) as tree,
    ):
        await until(key_present(client))
        await trio.to_thread.run_sync(etcd.kill)
        # The outage shows (the INFO item warns) and never hurts the tree.
        await until(lambda: _async(etcd_item(tree)[0] == "warn"), limit=10)
        assert tree.observer.verdicts()["readyz"]
        await trio.sleep(3)  # longer than the TTL: the lease may be gone
        await trio.to_thread.run_sync(etcd.start)
        back = await until(key_present(client), limit=20)
        assert back < 15
        await until(lambda: _async(etcd_item(tree)[0] == "pass"))


async def test_a_second_instance_with_the_same_id_is_refused(etcd: EtcdServer) -> None:
    async with (
        EtcdClient([etcd.url]) as client,
        supervisor.open_tree(spec(), etcd=options(etcd)) as first,
    ):
        await until(key_present(client))
        [held] = await client.get(KEY)
        async with supervisor.open_tree(spec(), etcd=options(etcd)) as second:

            async def refused() -> bool:
                status, reason = etcd_item(second)
                return status == "warn" and "InstanceTaken" in reason

            await until(refused)
            assert "--instance" in etcd_item(second)[1]
            [still] = await client.get(KEY)
            assert still.lease == held.lease  # never overwritten
        assert etcd_item(first)[0] == "pass"


async def _async(value: bool) -> bool:
    return value
