"""
The tree under systemd (``Type=notify``, ``WatchdogSec=``): a service that,
when the tree runs with ``NOTIFY_SOCKET`` set, tells the service manager

* ``READY=1`` (with a ``STATUS=``) once the user's root has started;
* ``STATUS=`` a one-line summary whenever it changes (at most once a second);
* ``WATCHDOG=1`` every half of ``WATCHDOG_USEC``, **only while the tree is
  live** (the observer's ``livez`` verdict): a tree whose loop is stuck, or
  whose root is down, stops beating and systemd restarts it;
* ``STOPPING=1`` as soon as the tree begins to stop.

No systemd library: a datagram socket and a few lines (`sd_notify(3)`).
Sending never fails the tree: an error is logged (``systemd_notify_failed``,
at most once a minute) and the next message tries again.
"""

from __future__ import annotations

import functools
import os
import socket
from collections import Counter
from collections.abc import Mapping, Sequence

import trio

from .._log import get_logger
from .._policy.notify import encode_notification
from .._policy.states import State
from .._policy.systemd import SystemdSettings, settings, summary
from .._runtime.services import Service
from .._runtime.tree import Tree
from .._spec import Child

LOG = get_logger("supervisor.systemd")
_STATUS_EVERY = 1.0  # seconds between STATUS= updates, at most
_FAILURE_LOG_EVERY = 60.0


class SystemdNotifier(Service[Tree]):
    """The service (see the module doc); `from_environment` makes one if systemd asks."""

    def __init__(self, config: SystemdSettings) -> None:
        self.settings = config
        self._sock: trio.socket.SocketType | None = None
        self._failed_logged_at = -float("inf")
        #: Datagrams that could not be sent.
        self.failures = 0

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None
    ) -> SystemdNotifier | None:
        config = settings(os.environ if environ is None else environ, os.getpid())
        return None if config is None else cls(config)

    def children(self, tree: Tree) -> Sequence[Child]:
        return [Child(name="systemd", target=functools.partial(self._run, tree))]

    async def _run(self, tree: Tree) -> None:
        observer = tree.observer
        sock = self._sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            with sock:
                # _system starts before the user's root: READY=1 waits for it.
                version = observer.version
                while observer.facts(fresh=True).root_state is not State.RUNNING:
                    if observer.shutting_down:
                        break
                    version = await observer.changed(version)
                status = self._status(tree)
                await self._send(READY="1", STATUS=status)
                async with trio.open_nursery() as nursery:
                    if self.settings.watchdog_interval is not None:
                        nursery.start_soon(self._beat, tree)
                    await self._follow(tree, status)
                    nursery.cancel_scope.cancel()
        finally:
            self._sock = None

    async def _follow(self, tree: Tree, status: str) -> None:
        """STATUS= on changes, until the tree begins to stop; then STOPPING=1."""
        observer = tree.observer
        version = observer.version
        while not observer.shutting_down:
            version = await observer.changed(version)
            # A burst of changes is one update, but a stop is told at once.
            if await _stops_within(tree, _STATUS_EVERY):
                break
            latest = self._status(tree)
            if latest != status:
                status = latest
                await self._send(STATUS=status)
        await self._send(STOPPING="1", STATUS="stopping")

    async def _beat(self, tree: Tree) -> None:
        interval = self.settings.watchdog_interval
        assert interval is not None
        observer = tree.observer
        while True:
            if observer.verdicts(observer.facts(fresh=True))["livez"]:
                await self._send(WATCHDOG="1")
            await trio.sleep(interval)

    @staticmethod
    def _status(tree: Tree) -> str:
        snapshot = tree.observer.snapshot()
        states = Counter(
            node.state for node in snapshot.walk() if node is not snapshot.root
        )
        return summary(states, sum(count for _, count in snapshot.crashes))

    async def _send(self, **fields: str) -> None:
        data = encode_notification(**fields)
        sock = self._sock
        assert sock is not None
        try:
            await sock.sendto(data, self.settings.address)
        except OSError as exc:
            self.failures += 1
            now = trio.current_time()
            if now - self._failed_logged_at >= _FAILURE_LOG_EVERY:
                self._failed_logged_at = now
                log = LOG.bind()
                log.warning(
                    "systemd_notify_failed",
                    error=type(exc).__name__,
                    failures=self.failures,
                )


async def _stops_within(tree: Tree, seconds: float) -> bool:
    """Does the tree begin to stop within *seconds*?"""
    observer = tree.observer
    with trio.move_on_after(seconds):
        version = observer.version
        while not observer.shutting_down:
            version = await observer.changed(version)
        return True
    return False
