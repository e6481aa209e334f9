"""
A small etcd v3 client over its JSON gateway, with httpx on trio.

Every Python gRPC client of etcd is asyncio-bound or broken with current
protobuf; the gateway (``/v3/...``) is served by every etcd since 3.4. The
bodies and answers are `_mapping`'s; this module only does the requests, and
is the one place httpx's errors are translated (`EtcdUnavailable`).

Several endpoints: a request goes to the one that answered last and, if it
cannot be reached, to the next ones in turn. With a name and password the
client authenticates (``/v3/auth/authenticate``) and sends the token bare in
the ``Authorization`` header (etcd wants no "Bearer"), again once if etcd says
it expired.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

import httpx

from . import _mapping as m
from ._errors import EtcdAuthFailed, EtcdRequestFailed, EtcdUnavailable

# Gateway statuses that mean "this member cannot serve now": try another.
_UNAVAILABLE_STATUS = frozenset({502, 503, 504})
# gRPC Unavailable / DeadlineExceeded bodies: the member has no leader, say.
_UNAVAILABLE_CODES = frozenset({4, 14})


class EtcdClient:
    """Requests to an etcd cluster through its v3 JSON gateway (see the module doc)."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoints = tuple(e.rstrip("/") for e in endpoints)
        self._username = username
        self._password = password
        self._timeout = timeout
        self._token: str | None = None
        self._preferred = 0
        # httpx's transport, not its client: the client logs every request at
        # INFO (a keepalive every TTL/3 would flood an application's log), and
        # the library configures no logger to quiet it.
        self._transport = transport or httpx.AsyncHTTPTransport()

    async def __aenter__(self) -> EtcdClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()

    # ---- the operations ---------------------------------------------------------

    async def grant(self, ttl: int) -> m.Lease:
        return m.parse_grant(await self.call("lease/grant", m.grant_body(ttl)))

    async def keepalive(self, lease_id: int) -> int:
        """Renew the lease; its TTL, or `LeaseGone`."""
        body = await self.call("lease/keepalive", m.lease_body(lease_id))
        return m.parse_keepalive(body, lease_id)

    async def revoke(self, lease_id: int) -> None:
        """Revoke the lease: every key on it is deleted now (`LeaseNotFound` if gone)."""
        await self.call("lease/revoke", m.lease_body(lease_id))

    async def put_if_absent(self, key: str, value: str, lease_id: int) -> None:
        """Create *key* on the lease unless it exists (`InstanceTaken` if another holds it)."""
        body = await self.call("kv/txn", m.put_if_absent_body(key, value, lease_id))
        m.check_put_if_absent(body, key, lease_id)

    async def get(self, key: str, *, prefix: bool = False) -> list[m.KeyValue]:
        body = await self.call("kv/range", m.range_body(key, prefix=prefix))
        return m.parse_range(body)

    async def campaign(self, name: str, lease_id: int, value: str) -> m.Leader:
        """Wait (without a timeout) until the lease leads election *name*."""
        body = await self.call(
            "election/campaign", m.campaign_body(name, lease_id, value), long_poll=True
        )
        return m.parse_campaign(body)

    async def resign(self, leader: m.Leader) -> None:
        await self.call("election/resign", m.resign_body(leader))

    # ---- requests ---------------------------------------------------------------

    async def call(self, path: str, body: m.Json, *, long_poll: bool = False) -> m.Json:
        """
        POST *body* to ``/v3/<path>`` on the first endpoint that answers, and
        return the answer's JSON (errors raised as `_mapping.error_for` says).
        A *long_poll* (a campaign) waits as long as etcd takes to answer.
        """
        limit = None if long_poll else self._timeout
        if self._username is not None and self._token is None:
            await self._authenticate()
        try:
            return await self._post(path, body, limit)
        except EtcdAuthFailed:
            if self._username is None:
                raise
            self._token = None  # expired: once more with a new one
            await self._authenticate()
            return await self._post(path, body, limit)

    async def _authenticate(self) -> None:
        body = m.authenticate_body(self._username or "", self._password or "")
        self._token = m.parse_token(
            await self._post("auth/authenticate", body, self._timeout, auth=False)
        )

    async def _post(
        self, path: str, body: m.Json, timeout: float | None, *, auth: bool = True
    ) -> m.Json:
        headers = {}
        if auth and self._token is not None:
            headers["Authorization"] = self._token
        last = "no endpoint configured"
        count = len(self.endpoints)
        for step in range(count):
            index = (self._preferred + step) % count
            url = f"{self.endpoints[index]}/v3/{path}"
            try:
                status, text = await self._send(url, body, headers, timeout)
            except httpx.TimeoutException:
                last = f"{self.endpoints[index]}: timed out"
                continue
            except httpx.TransportError as exc:
                last = f"{self.endpoints[index]}: {type(exc).__name__}"
                continue
            if status in _UNAVAILABLE_STATUS:
                last = f"{self.endpoints[index]}: HTTP {status}"
                continue
            try:
                result = m.load(path, status, text)
            except EtcdRequestFailed as exc:
                if exc.code in _UNAVAILABLE_CODES:
                    last = f"{self.endpoints[index]}: {exc.message}"
                    continue
                raise
            self._preferred = index
            return result
        raise EtcdUnavailable(self.endpoints, last)

    async def _send(
        self, url: str, body: m.Json, headers: dict[str, str], timeout: float | None
    ) -> tuple[int, str]:
        """One POST through the transport: its status and body (httpx errors raised)."""
        request = httpx.Request(
            "POST",
            url,
            json=body,
            headers=headers,
            extensions={"timeout": httpx.Timeout(timeout).as_dict()},
        )
        answer = await self._transport.handle_async_request(request)
        try:
            await answer.aread()
            return answer.status_code, answer.text
        finally:
            await answer.aclose()
