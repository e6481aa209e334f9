"""
Built-in health checks, to pass to ``open_tree(spec, checks=[...])``::

    from supervisor import Check, Feeds, checks

    Check(name="redis", fn=checks.redis("127.0.0.1", 6379, password=secret))
    Check(name="db", fn=checks.postgres("postgresql://app@db/app", timeout=1), timeout=2)
    Check(name="memory", fn=checks.memory(warn_bytes=2e9, fail_bytes=4e9), feeds=Feeds.INFO)

Any async callable that raises on failure is a check too; return an
`Observation` to report a measured value or a warning.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import socket
import threading
import time
from typing import Any

import trio

from ._checks import CheckFailed, CheckFn, Observation
from ._errors import SpecError
from ._safe import safe_repr, safe_str

__all__ = [
    "CheckFailed",
    "Observation",
    "http",
    "memory",
    "open_files",
    "postgres",
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


def redis(
    host: str = "127.0.0.1",
    port: int = 6379,
    *,
    username: str | None = None,
    password: str | None = None,
    db: int | None = None,
) -> CheckFn:
    """
    Passes when Redis answers ``PING`` with ``PONG``, after ``AUTH`` and ``SELECT``.

    The commands are sent in one pipeline over a trio TCP stream and the replies
    parsed by hiredis's `Reader` (a RESP parser with no I/O of its own). The
    password only ever goes to the server: a refused ``AUTH`` is reported by the
    server's error code (``WRONGPASS``), never with what was sent.
    """
    import hiredis  # noqa: PLC0415 - only this check needs it

    if username is not None and password is None:
        raise SpecError("checks.redis", "username", "needs a password as well")
    if db is not None and (isinstance(db, bool) or not isinstance(db, int) or db < 0):
        raise SpecError("checks.redis", "db", f"must be an int >= 0, got {db!r}")
    commands: list[tuple[str, ...]] = []
    if password is not None:
        commands.append(
            ("AUTH", password) if username is None else ("AUTH", username, password)
        )
    if db is not None:
        commands.append(("SELECT", str(db)))
    commands.append(("PING",))
    # hiredis' stub types its argument as a 1-tuple; it takes any length.
    request = b"".join(
        hiredis.pack_command(command)  # type: ignore[arg-type]
        for command in commands
    )
    names = [command[0] for command in commands]
    del commands  # the password stays in *request* only

    async def redis_ping() -> Observation | None:
        stream = await trio.open_tcp_stream(host, port)
        async with stream:
            await stream.send_all(request)
            replies = await _redis_replies(stream, hiredis.Reader(), len(names))
        for name, reply in zip(names, replies, strict=True):
            if isinstance(reply, hiredis.ReplyError):
                raise CheckFailed(_redis_refusal(name, str(reply)))
        if replies[-1] != b"PONG":
            raise CheckFailed(f"PING answered {safe_repr(replies[-1], 40)}")
        return None

    return redis_ping


#: The most a Redis check reads: PING's answers are a few bytes, and a server
#: that sends more is not one (the check's timeout bounds the time, this the memory).
_REDIS_MAX_BYTES = 64 * 1024


async def _redis_replies(
    stream: trio.abc.ReceiveStream, reader: Any, count: int
) -> list[object]:
    """The first *count* RESP replies on *stream*, parsed by a hiredis Reader."""
    import hiredis  # noqa: PLC0415 - only the Redis check needs it

    replies: list[object] = []
    received = 0
    while len(replies) < count:
        try:
            reply = reader.gets()
        except hiredis.ProtocolError:
            raise CheckFailed("the server does not speak RESP: not Redis?") from None
        if reply is not False:  # hiredis' "no complete reply yet"
            replies.append(reply)
            continue
        chunk = await stream.receive_some(4096)
        received += len(chunk)
        if not chunk or received > _REDIS_MAX_BYTES:
            raise CheckFailed(
                f"the connection ended after {len(replies)} of {count} replies"
                if not chunk
                else f"more than {_REDIS_MAX_BYTES} bytes in answer to PING"
            )
        reader.feed(chunk)
    return replies


def _redis_refusal(command: str, error: str) -> str:
    """What a check reports for an error reply: the code, and the text but for AUTH."""
    code = error.split(" ", 1)[0]
    if not code.isalpha() or not code.isupper():
        code = "ERR"
    if command == "AUTH":
        # Whatever the server says about the credentials stays with it.
        return f"AUTH refused ({code}): check the username and password"
    return f"{command} refused: {safe_str(error, 120)}"


def postgres(
    dsn: str,
    *,
    timeout: float = 1.0,
    query: str = "SELECT 1",
    statement_timeout: bool = True,
) -> CheckFn:
    """
    Passes when PostgreSQL at *dsn* accepts a connection and answers *query*.

    psycopg's async API is asyncio-bound, so its blocking API runs in a worker
    thread, at most one per check. Give the `Check` a timeout of *timeout* or
    more: when the runner cancels the check at its timeout, the check shuts the
    connection's socket down, so the thread ends at once whatever the server
    does (a server that never answers, a network that drops every packet), and
    the next run gets a connection of its own. libpq bounds the rest from
    *timeout*: ``connect_timeout`` (at least the 2 s libpq allows), TCP
    keepalives and ``tcp_user_timeout`` (a peer gone silent), and, with
    *statement_timeout*, the server's ``statement_timeout``, which ends the
    query on the server too.

    *statement_timeout* is sent as the startup parameter ``options=-c
    statement_timeout=...``, which PgBouncer refuses by default ("unsupported
    startup parameter: options", unless its ``ignore_startup_parameters``
    lists ``options``): pass ``statement_timeout=False`` behind one. The
    DSN's password is never part of what the check reports. Needs the
    ``postgres`` extra (``pip install trio-supervisor[postgres]``).
    """
    conninfo = _postgres_conninfo(dsn)
    if not (0 < timeout < math.inf):
        raise SpecError("checks.postgres", "timeout", f"must be > 0, got {timeout!r}")
    secret = conninfo.get("password")
    bounded = _bounded_conninfo(dsn, conninfo, timeout, statement=statement_timeout)
    one_at_a_time = trio.CapacityLimiter(1)

    def query_once(attempt: _Attempt) -> float:
        import psycopg  # noqa: PLC0415 - imported by _postgres_conninfo already

        began = time.monotonic()
        with psycopg.connect(bounded, autocommit=True) as conn:
            try:
                if not attempt.connected(conn.pgconn.socket):
                    raise CheckFailed("cancelled while connecting")  # nobody waits
                conn.execute(query).fetchall()
            finally:
                attempt.finished()  # before the connection closes its socket
        return time.monotonic() - began

    async def postgres_ping() -> Observation | None:
        import psycopg  # noqa: PLC0415 - imported by _postgres_conninfo already

        attempt = _Attempt()
        try:
            took = await trio.to_thread.run_sync(
                query_once, attempt, abandon_on_cancel=True, limiter=one_at_a_time
            )
        except psycopg.Error as exc:
            raise CheckFailed(_scrubbed(exc, secret)) from None
        finally:
            attempt.interrupt()  # a no-op unless cancelled with the query running
        return Observation(value=took, unit="s")

    return postgres_ping


class _Attempt:
    """
    One run's connection, as trio reaches it to end the worker thread: its
    socket's descriptor while the query runs. The lock keeps `interrupt` from
    touching a descriptor the thread has closed (and the system reused).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._over = False  # finished or interrupted: leave the socket alone

    def connected(self, fd: int) -> bool:
        """In the thread, once connected: whether to go on with the query."""
        with self._lock:
            self._fd = None if self._over else fd
            return not self._over

    def finished(self) -> None:
        with self._lock:
            self._over, self._fd = True, None

    def interrupt(self) -> None:
        """From trio, never blocking: the thread's recv returns, and libpq fails."""
        with self._lock:
            fd, self._fd, self._over = self._fd, None, True
            if fd is None:
                return
            # shutdown() acts on the socket the thread waits on; closing our
            # duplicate leaves the thread's descriptor for psycopg to close.
            with contextlib.suppress(OSError), socket.socket(fileno=os.dup(fd)) as dup:
                dup.shutdown(socket.SHUT_RDWR)


def _postgres_conninfo(dsn: str) -> dict[str, Any]:
    try:
        import psycopg.conninfo  # noqa: PLC0415 - an optional dependency
    except ImportError:
        raise SpecError(
            "checks.postgres",
            "dsn",
            "needs psycopg: pip install 'trio-supervisor[postgres]'",
        ) from None
    try:
        return psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        # libpq's message quotes the DSN, and a DSN may hold a password.
        raise SpecError(
            "checks.postgres", "dsn", "is not a libpq connection string or URI"
        ) from None


def _bounded_conninfo(
    dsn: str, conninfo: dict[str, Any], timeout: float, *, statement: bool
) -> str:
    """*dsn* with libpq's own bounds set from *timeout* (the user's options kept)."""
    import psycopg.conninfo  # noqa: PLC0415 - an optional dependency

    # libpq ignores a connect_timeout under 2 s and rounds it to seconds.
    connect = max(2, math.ceil(timeout))
    # A peer gone silent (a host down, a partition) is noticed by TCP itself:
    # keepalive probes after *connect* idle seconds, and unacknowledged data
    # dropped after as long (without these, Linux retries for about 2 hours).
    bounds: dict[str, Any] = {
        "keepalives": 1,
        "keepalives_idle": connect,
        "keepalives_interval": 1,
        "keepalives_count": 3,
        "tcp_user_timeout": connect * 1000,
    }
    bounds = {key: value for key, value in bounds.items() if key not in conninfo}
    if statement:
        statement_timeout = f"-c statement_timeout={math.ceil(timeout * 1000)}"
        own = conninfo.get("options")
        bounds["options"] = f"{own} {statement_timeout}" if own else statement_timeout
    return psycopg.conninfo.make_conninfo(dsn, connect_timeout=connect, **bounds)


def _scrubbed(error: BaseException, secret: object) -> str:
    """A psycopg error as a check reports it, with the DSN's password cut out."""
    text = f"{type(error).__name__}: {safe_str(error, 300)}"
    if isinstance(secret, str) and secret:
        text = text.replace(secret, "***")
    return " ".join(text.split())  # libpq's messages span lines


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
