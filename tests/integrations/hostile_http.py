"""
A hostile "etcd" for the tests: an HTTP/1.1 server of the tests' own on
127.0.0.1 (trio, in the test's nursery) that answers every request the way
the test sets (`HostileServer.mode`): garbage, a huge body, a body dripped
one byte at a time, no answer at all, or a good answer from a real etcd
(``proxy``), so that a test can turn etcd bad and good again mid-run.
"""

from __future__ import annotations

import contextlib
import functools
import re

import httpx
import trio

_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


def _answer(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return (
        f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{head}"
        "Connection: close\r\n\r\n"
    ).encode() + body


class HostileServer:
    """See the module doc; *mode* is read at each request."""

    def __init__(self, upstream: str | None = None) -> None:
        self.mode = "garbage"
        self.upstream = upstream  # a real etcd, for mode "proxy"
        self.requests = 0
        self.url = ""

    async def serve(self, nursery: trio.Nursery) -> None:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, self._handle, 0, host="127.0.0.1")
        )
        port = listeners[0].socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def _handle(self, stream: trio.SocketStream) -> None:
        try:
            path, body = await self._read(stream)
        except (trio.BrokenResourceError, ValueError):
            return
        self.requests += 1
        # The client giving up mid-answer is what the tests want.
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self._reply(stream, path, body)

    async def _read(self, stream: trio.SocketStream) -> tuple[str, bytes]:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive_some(65536)
            if not chunk:
                raise ValueError("closed")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        found = _LENGTH.search(head)
        while found and len(body) < int(found.group(1)):
            chunk = await stream.receive_some(65536)
            if not chunk:
                raise ValueError("closed")
            body += chunk
        path = head.split(b" ", 2)[1].decode()
        return path, body

    async def _reply(self, stream: trio.SocketStream, path: str, body: bytes) -> None:
        mode = self.mode
        if mode == "proxy":
            assert self.upstream is not None
            async with httpx.AsyncClient() as client:
                real = await client.post(f"{self.upstream}{path}", content=body)
            await stream.send_all(_answer(real.content, status=f"{real.status_code} X"))
        elif mode == "garbage":
            await stream.send_all(_answer(b"\xff\xfe<html>not etcd</html>"))
        elif mode == "deep":  # JSON nested past Python's recursion limit
            await stream.send_all(_answer(b"[" * 200_000))
        elif mode == "gzip":  # says gzip, is not
            await stream.send_all(_answer(b"not gzip", "Content-Encoding: gzip"))
        elif mode == "huge":  # 64 MiB of a JSON string, sent as fast as read
            size = 64 * 1024 * 1024
            await stream.send_all(
                f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode()
            )
            block = b"x" * (1024 * 1024)
            for _ in range(size // len(block)):
                await stream.send_all(block)
        elif mode == "drip":  # a byte every 0.2 s: never a read timeout
            await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            while True:
                await stream.send_all(b" ")
                await trio.sleep(0.2)
        elif mode == "silent":
            await trio.sleep_forever()
        else:  # pragma: no cover - a typo in a test
            raise AssertionError(f"unknown mode {mode!r}")
