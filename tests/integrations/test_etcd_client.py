"""The etcd client against a real etcd: failover between endpoints, auth, and errors."""

from __future__ import annotations

import logging

import pytest

from supervisor import EtcdUnavailable
from supervisor.integrations.etcd._client import EtcdClient
from supervisor.integrations.etcd._errors import (
    EtcdAuthFailed,
    LeaseGone,
    LeaseNotFound,
)
from tests.integrations.conftest import EtcdServer, free_port


async def test_fails_over_to_the_endpoint_that_answers(etcd: EtcdServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with EtcdClient([dead, etcd.url]) as client:
        lease = await client.grant(5)
        assert lease.ttl == 5
        assert await client.keepalive(lease.id) == 5
        await client.put_if_absent("/k", "v", lease.id)
        [kv] = await client.get("/k")
        assert (kv.value, kv.lease) == (b"v", lease.id)
        await client.revoke(lease.id)
        with pytest.raises(LeaseGone):  # etcd 3.4: a keepalive answer without TTL
            await client.keepalive(lease.id)
        with pytest.raises(LeaseNotFound):
            await client.revoke(lease.id)
        assert not await client.get("/k")  # the key went with the lease


async def test_no_endpoint_answers() -> None:
    dead = [f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"]
    async with EtcdClient(dead, timeout=0.5) as client:
        with pytest.raises(EtcdUnavailable) as caught:
            await client.grant(5)
    assert caught.value.endpoints == tuple(dead)
    assert "ConnectError" in caught.value.cause


async def test_authenticates_and_sends_the_bare_token(etcd: EtcdServer) -> None:
    etcd.post("auth/user/add", {"name": "root", "password": "s3cret"})
    etcd.post("auth/user/grant", {"user": "root", "role": "root"})
    etcd.post("auth/enable", {})
    async with EtcdClient([etcd.url], username="root", password="s3cret") as client:
        lease = await client.grant(5)
        await client.put_if_absent("/k", "v", lease.id)
        assert await client.get("/k")
    async with EtcdClient([etcd.url]) as anonymous:
        with pytest.raises(EtcdAuthFailed):
            await anonymous.get(
                "/k"
            )  # etcd 3.4 grants leases to anyone; reads need a user
    async with EtcdClient([etcd.url], username="root", password="wrong") as client:
        with pytest.raises(EtcdAuthFailed) as caught:
            await client.grant(5)
        assert "wrong" not in str(caught.value)  # never the password


async def test_requests_leave_no_log_line(
    etcd: EtcdServer, caplog: pytest.LogCaptureFixture
) -> None:
    # A keepalive every TTL/3 must not become an INFO line of the application's
    # log (httpx's client logs each request; the transport does not).
    with caplog.at_level(logging.DEBUG):
        async with EtcdClient([etcd.url]) as client:
            lease = await client.grant(5)
            await client.keepalive(lease.id)
    assert [r for r in caplog.records if r.name == "httpx"] == []
