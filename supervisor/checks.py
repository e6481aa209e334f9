"""
Built-in health checks, to pass to ``open_tree(spec, checks=[...])``::

    from supervisor import Check, Feeds, checks

    Check(name="redis", fn=checks.redis("127.0.0.1", 6379))
    Check(name="memory", fn=checks.memory(warn_bytes=2e9, fail_bytes=4e9), feeds=Feeds.INFO)

Any async callable that raises on failure is a check too; return an
`Observation` to report a measured value or a warning.
"""

from __future__ import annotations

import math
import resource

import trio

from ._checks import CheckFailed, CheckFn, Observation

__all__ = [
    "CheckFailed",
    "Observation",
    "http",
    "memory",
    "open_files",
    "redis",
    "tasks",
    "tcp",
]


def tcp(host: str, port: int) -> CheckFn:
    """Passes when a TCP connection to *host*:*port* opens."""

    async def tcp_connect() -> Observation | None:
        stream = await trio.open_tcp_stream(host, port)
        await stream.aclose()
        return None

    return tcp_connect


def http(url: str, *, expect_status: range = range(200, 400)) -> CheckFn:
    """Passes when ``GET url`` answers with a status in *expect_status* (httpx)."""
    import httpx  # noqa: PLC0415 - slow to import; only this check needs it here

    async def http_get() -> Observation | None:
        async with httpx.AsyncClient() as client:
            response = await client.get(url)
        if response.status_code not in expect_status:
            raise CheckFailed(f"GET {url} answered {response.status_code}")
        return Observation(value=response.elapsed.total_seconds(), unit="s")

    return http_get


def redis(host: str = "127.0.0.1", port: int = 6379) -> CheckFn:
    """Passes when Redis answers ``PING`` with ``PONG`` (RESP over a plain TCP stream)."""

    async def redis_ping() -> Observation | None:
        stream = await trio.open_tcp_stream(host, port)
        try:
            await stream.send_all(b"*1\r\n$4\r\nPING\r\n")
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = await stream.receive_some(64)
                if not chunk:
                    break
                reply += chunk
        finally:
            await stream.aclose()
        if not reply.startswith(b"+PONG"):
            raise CheckFailed(f"PING answered {reply[:40]!r}")
        return None

    return redis_ping


def _thresholded(
    value: float, unit: str, warn: float | None, fail: float | None, what: str
) -> Observation:
    if math.isnan(value):
        return Observation(message=f"{what}: not measurable on this platform")
    if fail is not None and value >= fail:
        raise CheckFailed(f"{what} {value:g} {unit} >= {fail:g}", value, unit)
    return Observation(value=value, unit=unit, warn=warn is not None and value >= warn)


def memory(
    *, warn_bytes: float | None = None, fail_bytes: float | None = None
) -> CheckFn:
    """Resident set size of this process, with warn/fail thresholds."""

    async def rss() -> Observation | None:
        return _thresholded(_rss_bytes(), "bytes", warn_bytes, fail_bytes, "RSS")

    return rss


def open_files(*, warn: int | None = None, fail: int | None = None) -> CheckFn:
    """Open file descriptors of this process against its soft limit by default."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    fail_at = (
        fail if fail is not None else (soft if soft != resource.RLIM_INFINITY else None)
    )

    async def fds() -> Observation | None:
        return _thresholded(_open_fds(), "descriptors", warn, fail_at, "open files")

    return fds


def tasks(*, warn: int | None = None, fail: int | None = None) -> CheckFn:
    """The number of live trio tasks in this run."""

    async def live_tasks() -> Observation | None:
        count = trio.lowlevel.current_statistics().tasks_living
        return _thresholded(count, "tasks", warn, fail, "live tasks")

    return live_tasks


# psutil reads the current values on every platform it supports (the
# getrusage fallback this replaced gave the *peak* RSS, and on macOS in bytes
# where Linux counts KiB: 1024 times too large there).


def _open_fds() -> float:
    import psutil  # noqa: PLC0415 - only these two checks need it here

    process = psutil.Process()
    try:
        return float(process.num_fds())
    except AttributeError:  # Windows: handles, not descriptors
        return math.nan


def _rss_bytes() -> float:
    import psutil  # noqa: PLC0415 - only these two checks need it here

    return float(psutil.Process().memory_info().rss)
