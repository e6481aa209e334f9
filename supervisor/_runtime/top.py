"""
The run of a tree's two top nodes: the user's root, and ``_system``, which
hosts the services' children (the HTTP server, the check runners). ``_system``
is up before the root starts and down after it stopped, so probes answer
during a slow start and report the shutdown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any

import trio

from .._errors import TooManyRestarts
from .._options import TreeOptions
from .._policy.lifecycle import EXIT_FAILED, EXIT_STOPPED, LAUNCH, STARTED
from .._snapshot import ExitInfo, Reason
from .._spec import Backoff, Child, Supervisor, SupervisorSpec
from .hub import Hub
from .loopwatch import LoopWatch
from .node import Node
from .services import Service
from .slot import Slot, StartedHandle, make_slot


class TopStarted:
    """The ``task_status`` of a top node (the user's root, `_system`): it marks its slot."""

    def __init__(
        self,
        hub: Hub,
        tree: object,
        slot: Slot,
        task_status: StartedHandle,
        *,
        shield: trio.CancelScope | None = None,
        hook: Callable[[Any], object] | None = None,
    ) -> None:
        self._hub = hub
        self._tree = tree
        self._slot = slot
        self._task_status = task_status
        self._shield = shield  # shielded from outside cancellation once started
        self._hook = hook  # TreeOptions.started

    def started(self) -> None:
        slot, hub = self._slot, self._hub
        slot.move(STARTED)
        slot.starts = 1
        slot.started_at = hub.now()
        hub.bump()
        if self._shield is not None:
            self._shield.shield = True
        self._task_status.started()
        if self._hook is not None:
            self._hook(self._tree)


class TopNodes:
    """The user's root and ``_system``, their slots, and their run."""

    def __init__(
        self,
        spec: SupervisorSpec,
        options: TreeOptions,
        hub: Hub,
        services: Sequence[Service[Any]],
        tree: object,
    ) -> None:
        self._options = options
        self._services = tuple(services)
        self.hub = hub
        threshold = options.loop_block_threshold
        self._loopwatch = LoopWatch(float(threshold)) if threshold is not None else None
        # Set once the root has ended and its final state is recorded.
        self.done = trio.Event()
        self.root_slot = make_slot(spec, spec.name, 0, None)
        self.root = Node(spec, spec.name, hub, owns_watchdog=not self._services)
        self.root_slot.node = self.root
        # The services' before_stop, awaited before the root stops its children.
        self.root.before_stop.extend(
            hook
            for svc in self._services
            if (hook := getattr(svc, "before_stop", None)) is not None
        )
        hub.on_abort = self.root.begin_close
        self.system: Node | None = None
        self.system_slot: Slot | None = None
        if self._services:
            self.system = self._system_node(
                [c for svc in self._services for c in svc.children(tree)]
            )
            self.system_slot = make_slot(self.system.spec, "_system", 0, None)
            self.system_slot.node = self.system

    @property
    def loopwatch(self) -> LoopWatch | None:
        return self._loopwatch

    async def run(
        self, tree: object, task_status: StartedHandle = trio.TASK_STATUS_IGNORED
    ) -> None:
        """
        Open the services (the HTTP server binds its listener), then run the
        tree. A service that cannot open fails the run at once (an address that
        cannot be bound: `HttpBindError`), before any child starts.
        """
        if self._options.opened is not None:
            self._options.opened(tree)
        async with AsyncExitStack() as stack:
            for service in self._services:
                await stack.enter_async_context(service.opened(tree))
            await self._run_system_and_root(tree, task_status)

    async def _run_system_and_root(
        self, tree: object, task_status: StartedHandle = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the system node (HTTP server, checks) around the user's root."""
        system = self.system
        if system is None:
            await self._run_user_root(tree, task_status)
            return
        failure: list[BaseException] = []
        async with trio.open_nursery() as nursery:
            # Up before the root starts, so probes answer during a slow start;
            # down after it stopped, so readiness reports the shutdown. The
            # system node never gives up (its children restart with backoff
            # forever), so once started it cannot end the user's root; a
            # failure of its first start is raised here, before the root runs.
            await nursery.start(self._run_system, system, tree)
            try:
                await self._run_user_root(tree, task_status)
            except BaseException as exc:  # re-raised below, bare
                failure.append(exc)
            finally:
                system.begin_close()
        if failure:
            raise failure[0]

    async def _run_system(
        self,
        system: Node,
        tree: object,
        task_status: StartedHandle = trio.TASK_STATUS_IGNORED,
    ) -> None:
        slot = self.system_slot
        assert slot is not None
        slot.move(LAUNCH)
        self.hub.bump()
        # Once up, it ends only by _run_root's begin_close, after the user's
        # root has stopped, also when the tree is cancelled from outside: it
        # started first and stops last (probes answer during the shutdown, and
        # its watchdog bounds every stop of the root's).
        shield = trio.CancelScope()
        try:
            with shield:
                await system.run(
                    TopStarted(self.hub, tree, slot, task_status, shield=shield)
                )
        finally:
            slot.move(EXIT_STOPPED)
            slot.last_exit = ExitInfo(reason=Reason.SHUTDOWN, time=self.hub.now())
            self.hub.bump()

    def _system_node(self, children: list[Child]) -> Node:
        # Nothing in the tree's own machinery may stop the user's tree: a part
        # that fails once up is reported (child_crashed, /status "system") and
        # retried with backoff forever, as systemd's Restart=always with
        # RestartSec; intensity is not applied. A part that fails its first
        # start (no started() yet: only the HTTP server can) fails the run
        # before the user's root starts: "more than 0 restarts" before it was up.
        spec = Supervisor(
            name="_system",
            intensity=0,
            backoff=Backoff(initial=0.2, max=5),
            children=children,
        )
        return Node(spec, spec.name, self.hub, owns_watchdog=True, escalates=False)

    async def _run_user_root(
        self, tree: object, task_status: StartedHandle = trio.TASK_STATUS_IGNORED
    ) -> None:
        slot = self.root_slot
        slot.move(LAUNCH)
        self.hub.bump()

        if self._loopwatch is not None:
            self._loopwatch.start()
        try:
            await self.root.run(
                TopStarted(
                    self.hub, tree, slot, task_status, hook=self._options.started
                )
            )
        except TooManyRestarts as exc:
            slot.move(EXIT_FAILED)
            slot.gave_up += 1
            slot.last_exit = ExitInfo.from_exception(
                Reason.ESCALATED, self.hub.now(), exc
            )
            if self.hub.fatal is not None:
                # A KeyboardInterrupt/SystemExit from a child outranks giving up.
                raise self.hub.fatal from exc
            raise
        except BaseException:
            slot.move(EXIT_STOPPED)
            raise
        else:
            slot.move(EXIT_STOPPED)
            slot.last_exit = ExitInfo(reason=Reason.NORMAL, time=self.hub.now())
        finally:
            self.hub.bump()
            if self._loopwatch is not None:
                self._loopwatch.stop()
            self.done.set()
        if self.hub.fatal is not None:
            raise self.hub.fatal
