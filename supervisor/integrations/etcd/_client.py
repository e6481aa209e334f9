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

import math
from collections.abc import Sequence
from types import TracebackType

import httpx
import trio

from . import _mapping as m
from ._errors import EtcdAuthFailed, EtcdRequestFailed, EtcdUnavailable

# Gateway statuses that mean "this member cannot serve now": try another.
_UNAVAILABLE_STATUS = frozenset({502, 503, 504})
# gRPC Unavailable / DeadlineExceeded bodies: the member has no leader, say.
_UNAVAILABLE_CODES = frozenset({4, 14})
# The largest answer read: etcd refuses requests over 1.5 MiB by default, so a
# value (base64: 4/3) and its envelope fit; more is not etcd, and is not read.
MAX_ANSWER = 4 * 1024 * 1024


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
            endpoint = self.endpoints[index]
            try:
                status, text = await self._send(
                    f"{endpoint}/v3/{path}", body, headers, timeout
                )
            except _Unusable as exc:
                last = f"{endpoint}: {exc}"
                continue
            if status in _UNAVAILABLE_STATUS:
                last = f"{endpoint}: HTTP {status}"
                continue
            try:
                result = m.load(path, status, text)
            except m.MalformedAnswer as exc:
                # Not etcd's gateway (a proxy's page, garbage): try another.
                last = f"{endpoint}: {exc.message}"
                continue
            except EtcdRequestFailed as exc:
                if exc.code in _UNAVAILABLE_CODES:
                    last = f"{endpoint}: {exc.message}"
                    continue
                raise
            self._preferred = index
            return result
        raise EtcdUnavailable(self.endpoints, last)

    async def _send(
        self, url: str, body: m.Json, headers: dict[str, str], timeout: float | None
    ) -> tuple[int, str]:
        """
        One POST through the transport: its status and body, read within
        *timeout* in all (httpx's timeouts bound each socket operation, so a
        body dripped a byte at a time would never end) and at most
        `MAX_ANSWER` bytes; `_Unusable` if not.
        """
        request = httpx.Request(
            "POST",
            url,
            json=body,
            headers=headers,
            extensions={"timeout": httpx.Timeout(timeout).as_dict()},
        )
        with trio.move_on_after(math.inf if timeout is None else timeout):
            try:
                answer = await self._transport.handle_async_request(request)
                try:
                    raw = await _read_capped(answer)
                finally:
                    await answer.aclose()
            except httpx.TimeoutException:
                raise _Unusable("timed out") from None
            except httpx.HTTPError as exc:  # transport, protocol, decoding errors
                raise _Unusable(type(exc).__name__) from None
            return answer.status_code, raw.decode("utf-8", errors="replace")
        raise _Unusable(f"no whole answer within {timeout:g} s")


class _Unusable(Exception):
    """This endpoint gave no usable answer (the reason, never a secret): try another."""


async def _read_capped(answer: httpx.Response) -> bytes:
    """The answer's raw body; `_Unusable` past `MAX_ANSWER` bytes (not etcd's)."""
    chunks: list[bytes] = []
    size = 0
    # Stopped by cancelling, not by leaving the loop: a cancellation runs
    # through httpcore's nested generators and closes each, where a `break`
    # would leave them suspended (and warned about when collected).
    with trio.CancelScope() as stop:
        async for chunk in answer.aiter_raw():
            size += len(chunk)
            if size > MAX_ANSWER:
                stop.cancel()
            else:
                chunks.append(chunk)
    if size > MAX_ANSWER:
        raise _Unusable(f"an answer larger than {MAX_ANSWER} bytes")
    return b"".join(chunks)
