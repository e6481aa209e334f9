"""
The socket one child's systemd notifications arrive on (the runtime half of
`supervisor._policy.notify`): an abstract-namespace datagram socket with
``SO_PASSCRED``, so that every datagram carries its sender's credentials.

Every file descriptor passed with a datagram is closed at once: the real
``systemd-notify`` follows each message with ``BARRIER=1`` and the write end
of a pipe, and waits (5 s) until every copy of it is closed.
"""

from __future__ import annotations

import array
import os
import secrets
import socket
import struct
import sys
from collections.abc import Sequence

import trio

from .._policy.notify import MAX_DATAGRAM, sender_allowed

_CREDENTIALS = struct.Struct("3i")  # struct ucred: pid, uid, gid
_MAX_FDS = 253  # SCM_MAX_FD: the kernel passes no more in one message

#: Whether notify sockets work here (SCM_CREDENTIALS is Linux's).
SUPPORTED = sys.platform.startswith("linux")


class NotifySocket:
    """A bound notify socket; `address` is what goes in ``NOTIFY_SOCKET``."""

    def __init__(self, sock: trio.socket.SocketType, address: str) -> None:
        self._sock = sock
        self.address = address
        #: Descriptors that arrived with datagrams and were closed.
        self.closed_fds = 0

    @classmethod
    async def open(cls) -> NotifySocket:
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            name = f"supervisor/{os.getpid()}/{secrets.token_hex(8)}"
            await sock.bind("\0" + name)  # abstract: nothing to clean up on disk
        except BaseException:
            sock.close()
            raise
        return cls(sock, "@" + name)

    def close(self) -> None:
        self._sock.close()

    async def receive(self, child_pid: int) -> tuple[bytes, bool]:
        """
        The next datagram, and whether its sender may speak for *child_pid*
        (`sender_allowed`). The sender is looked at before the descriptors it
        passed are closed: ``systemd-notify`` exits as soon as they are.
        """
        data, ancdata, flags, _ = await self._sock.recvmsg(
            MAX_DATAGRAM + 1,
            socket.CMSG_SPACE(_CREDENTIALS.size)
            + socket.CMSG_SPACE(_MAX_FDS * array.array("i").itemsize),
            socket.MSG_CMSG_CLOEXEC,
        )
        fds, pid = _read_ancillary(ancdata)
        try:
            allowed = pid == child_pid or _descends(pid, child_pid)
        finally:
            for fd in fds:
                os.close(fd)  # a BARRIER=1's pipe: its sender waits for this
                self.closed_fds += 1
        if flags & socket.MSG_TRUNC:
            data = data.ljust(MAX_DATAGRAM + 1, b"\0")  # too long: refused
        return data, allowed


def _read_ancillary(
    ancdata: Sequence[tuple[int, int, bytes]],
) -> tuple[list[int], int | None]:
    """The descriptors passed with a datagram, and its sender's PID."""
    fds: list[int] = []
    pid = None
    for level, kind, payload in ancdata:
        if level != socket.SOL_SOCKET:
            continue
        if kind == socket.SCM_RIGHTS:
            passed = array.array("i")
            passed.frombytes(payload[: len(payload) - len(payload) % passed.itemsize])
            fds.extend(passed)
        elif kind == socket.SCM_CREDENTIALS and len(payload) >= _CREDENTIALS.size:
            pid = _CREDENTIALS.unpack_from(payload)[0]
    return fds, pid


def _descends(pid: int | None, child_pid: int) -> bool:
    if pid is None or pid <= 0:
        return False
    try:
        session: int | None = os.getsid(pid)
    except OSError:
        session = None  # gone already
    if session == child_pid:
        return True  # one system call: the common case, a process of its session
    return sender_allowed(pid, child_pid, session=session, ancestry=ancestry(pid))


def ancestry(pid: int, limit: int = 64) -> tuple[int, ...]:
    """*pid*'s parents, nearest first (empty if it is gone); read with psutil."""
    import psutil  # noqa: PLC0415 - lazily: only a datagram from a descendant needs it

    chain: list[int] = []
    try:
        process = psutil.Process(pid)
        while len(chain) < limit:
            parent = process.ppid()
            if parent <= 0 or parent in chain:
                break
            chain.append(parent)
            process = psutil.Process(parent)
    except psutil.Error:
        pass  # it (or a parent) exited meanwhile: what was read stands
    return tuple(chain)
