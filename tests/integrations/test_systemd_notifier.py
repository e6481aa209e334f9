"""
The tree under systemd: its own notifications, received on a socket the test
owns (as systemd's would be). Real clock, generous bounds.
"""

from __future__ import annotations

import itertools
import secrets
import socket
from collections.abc import AsyncIterator

import pytest
import trio

from supervisor import Child, Supervisor, open_tree
from supervisor._entry import services
from supervisor._options import TreeOptions
from supervisor.integrations.systemd import SystemdNotifier

Received = list[tuple[float, dict[str, str]]]


def _fields(data: bytes) -> dict[str, str]:
    return dict(line.split("=", 1) for line in data.decode().split("\n") if line)


@pytest.fixture
async def manager(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[trio.socket.SocketType]:
    """A socket standing for systemd's; the tree is told to notify it."""
    name = f"supervisor-test/{secrets.token_hex(8)}"
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    await sock.bind("\0" + name)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # a beat every 0.1 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    with sock:
        yield sock


async def _collect(sock: trio.socket.SocketType, into: Received) -> None:
    while True:
        data = await sock.recv(4096)
        into.append((trio.current_time(), _fields(data)))


async def _forever() -> None:
    await trio.sleep_forever()


def test_no_notifier_without_notify_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)

    assert not any(isinstance(s, SystemdNotifier) for s in services(TreeOptions()))


async def test_ready_status_watchdog_and_stopping(
    manager: trio.socket.SocketType,
) -> None:
    got: Received = []
    spec = Supervisor(name="root", children=[Child(name="a", target=_forever)])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_collect, manager, got)
        async with open_tree(spec) as t:
            with trio.fail_after(5):
                while sum("WATCHDOG" in f for _, f in got) < 5:  # noqa: ASYNC110 - datagrams from another task
                    await trio.sleep(0.01)
            assert t.observer.verdicts()["livez"]
        with trio.fail_after(5):
            while not any("STOPPING" in f for _, f in got):  # noqa: ASYNC110
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()

    first = got[0][1]
    assert first == {"READY": "1", "STATUS": "1/1 children running"}
    beats = [at for at, f in got if f == {"WATCHDOG": "1"}]
    gaps = [b - a for a, b in itertools.pairwise(beats)]
    assert all(0.05 < gap < 1.0 for gap in gaps)
    assert got[-1][1] == {"STOPPING": "1", "STATUS": "stopping"}


async def test_status_follows_the_tree(manager: trio.socket.SocketType) -> None:
    got: Received = []
    spec = Supervisor(name="root", children=[Child(name="a", target=_forever)])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_collect, manager, got)
        async with open_tree(spec) as t:
            await t.start_child("root", Child(name="b", target=_forever))
            with trio.fail_after(5):
                want = "2/2 children running"
                while not any(f.get("STATUS") == want for _, f in got):  # noqa: ASYNC110
                    await trio.sleep(0.01)
        nursery.cancel_scope.cancel()


async def test_no_watchdog_while_the_tree_is_not_live(
    manager: trio.socket.SocketType,
) -> None:
    async def stubborn() -> None:
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await trio.sleep(2.0)  # far past its shutdown bound

    got: Received = []
    spec = Supervisor(
        name="root", children=[Child(name="stubborn", target=stubborn, shutdown=0.2)]
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_collect, manager, got)
        async with open_tree(spec) as t:
            async with trio.open_nursery() as inner:
                inner.start_soon(t.terminate_child, "root/stubborn")
                with trio.fail_after(5):
                    while t.observer.verdicts(t.observer.facts(fresh=True))["livez"]:  # noqa: ASYNC110
                        await trio.sleep(0.01)
                dead_at = trio.current_time()
                await trio.sleep(1.0)  # ten watchdog intervals without a beat
                assert not t.observer.verdicts(t.observer.facts(fresh=True))["livez"]
                silent = [
                    at for at, f in got if "WATCHDOG" in f and at > dead_at + 0.15
                ]
        nursery.cancel_scope.cancel()

    assert [at for at, f in got if "WATCHDOG" in f and at < dead_at]
    assert silent == []


async def test_an_unreachable_manager_never_fails_the_tree(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "@supervisor-test/nobody-listens")
    monkeypatch.setenv("WATCHDOG_USEC", "100000")
    spec = Supervisor(name="root", children=[Child(name="a", target=_forever)])
    async with open_tree(spec) as t:
        await trio.sleep(0.3)
        node = t.snapshot().node("_system/systemd")

    assert node.restarts == 0
