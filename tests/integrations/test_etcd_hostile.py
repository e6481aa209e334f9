"""
etcd answering badly (a hostile server of the tests' own, `hostile_http`):
garbage, JSON nested past the recursion limit, a false gzip, a huge body, a
body dripped a byte at a time, no answer. The client turns each into
`EtcdUnavailable` within its timeout (and fails over to an endpoint that
answers); the tree never hangs or dies, shows the outage, and registers once
etcd answers again. Real clock: a real server is the point.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
import trio

import supervisor
from supervisor import Child, EtcdOptions, EtcdUnavailable, Supervisor
from supervisor.integrations.etcd._client import EtcdClient
from tests.integrations.conftest import EtcdServer
from tests.integrations.hostile_http import HostileServer

MODES = ["garbage", "deep", "gzip", "huge", "drip", "silent"]


@pytest.fixture
async def hostile(etcd: EtcdServer) -> AsyncIterator[HostileServer]:
    server = HostileServer(upstream=etcd.url)
    async with trio.open_nursery() as nursery:
        await server.serve(nursery)
        yield server
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("mode", MODES)
async def test_a_bad_answer_is_unavailable_within_the_timeout(
    hostile: HostileServer, mode: str
) -> None:
    hostile.mode = mode
    began = time.perf_counter()
    async with EtcdClient([hostile.url], timeout=1.0) as client:
        with pytest.raises(EtcdUnavailable) as caught:
            await client.grant(5)
    took = time.perf_counter() - began
    assert took < 3  # one timeout, and a margin; "drip" never ended before
    assert caught.value.cause.startswith(hostile.url)


@pytest.mark.parametrize("mode", MODES)
async def test_a_bad_endpoint_fails_over_to_a_good_one(
    hostile: HostileServer, etcd: EtcdServer, mode: str
) -> None:
    hostile.mode = mode
    async with EtcdClient([hostile.url, etcd.url], timeout=1.0) as client:
        lease = await client.grant(5)
        assert await client.keepalive(lease.id) == 5


def _restarts(tree: supervisor.Tree) -> int:
    return tree.snapshot().node("_system/etcd").restarts


def _outage_shown(tree: supervisor.Tree) -> bool:
    status, reason = _etcd_item(tree)
    return status == "warn" and "unavailable" in reason


def _etcd_item(tree: supervisor.Tree) -> tuple[str, str]:
    [item] = [i for i in tree.observer.verdict("readyz") if i.name == "etcd"]
    return item.status, item.reason


@pytest.mark.parametrize("mode", ["drip", "deep", "gzip"])
async def test_the_tree_shows_the_outage_and_registers_when_etcd_answers(
    hostile: HostileServer, etcd: EtcdServer, mode: str
) -> None:
    hostile.mode = mode
    spec = Supervisor(
        name="root", children=[Child(name="w", target=trio.sleep_forever)]
    )
    options = EtcdOptions(
        endpoints=[hostile.url], service="api", instance="a", ttl=5, interval=0.1,
        timeout=0.5,
    )  # fmt: skip
    async with (
        EtcdClient([etcd.url]) as direct,
        supervisor.open_tree(spec, http="127.0.0.1:0", etcd=options) as tree,
        httpx.AsyncClient(base_url=f"http://{tree.http_addresses[0]}") as http,
    ):
        with trio.fail_after(10):
            while not _outage_shown(tree):  # noqa: ASYNC110 - polled
                await trio.sleep(0.05)
        # Visible: /readyz?verbose's INFO item, /status, the metric; the tree
        # is ready and live, and the service never crashed (a RecursionError
        # or httpx's DecodingError escaped the client before).
        verbose = (await http.get("/readyz?verbose")).text
        assert "etcd" in verbose
        assert (await http.get("/readyz")).status_code == 200
        metrics = (await http.get("/metrics")).text
        assert 'supervisor_etcd_registered{service="api"} 0.0' in metrics
        status = (await http.get("/status")).json()
        [check] = [c for c in status["checks"] if c["name"] == "etcd"]
        assert check["status"] == "fail"
        assert _restarts(tree) == 0
        hostile.mode = "proxy"
        with trio.fail_after(15):
            while not await direct.get("/services/api/a"):  # noqa: ASYNC110
                await trio.sleep(0.05)
            while _etcd_item(tree)[0] != "pass":  # noqa: ASYNC110
                await trio.sleep(0.05)
        assert _restarts(tree) == 0
