"""
The `Tree` handle users control and inspect a running tree with. Its run (the
user's root and ``_system``, which hosts the services' children) is `top`;
the nodes share its `Hub`. It imports no surface: `run` and `open_tree`
(`_entry`) turn ``http=`` and ``checks=`` into services, and every surface
reads the tree through `Tree.observer` (`observe`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import trio

from .._deprecate import moved
from .._errors import (
    ChildLookupError,
    ChildRunning,
    NotSupported,
    SpecError,
    TreeNotRunning,
)
from .._options import TreeOptions
from .._policy.health import ChildWalk, TreeFacts, not_ready
from .._safe import safe_repr
from .._snapshot import (
    UNWATCHED,
    EventLoopHealth,
    NodeSnapshot,
    State,
    TreeSnapshot,
)
from .._spec import (
    DynamicSupervisor,
    NodeSpec,
    Restart,
    Supervisor,
    SupervisorSpec,
)
from .hub import Hub
from .node import Node
from .observe import TreeObserver
from .services import Service
from .slot import Slot, StartedHandle, Supervising
from .top import TopNodes

if TYPE_CHECKING:
    from .._checks import CheckState


@attrs.frozen(kw_only=True)
class ChildCounts:
    """What `Tree.count_children` returns (OTP's ``count_children``)."""

    specs: int  # children known to the supervisor, running or not
    # Children that run (counted as started, not yet ended; as OTP, also while
    # being stopped). Not those in backoff or still starting, which still
    # count against a dynamic supervisor's max_children.
    active: int
    supervisors: int  # children that are supervisors
    workers: int  # children that are workers


class Tree:
    """
    A running supervision tree. Get one from `open_tree`; it has no public constructor.

    Nodes are addressed by tree path: the names from the root down, joined by
    ``/`` (``"root/db/pool"``). A path that names no node raises
    `ChildLookupError`; a call on a stopping tree raises `TreeNotRunning`.
    """

    def __init__(
        self,
        spec: SupervisorSpec,
        options: TreeOptions | None = None,
        services: Sequence[Service[Tree]] = (),
        *,
        _private: bool = False,
    ) -> None:
        if not _private:
            raise TypeError(
                "supervisor.Tree has no public constructor; use 'async with supervisor.open_tree(spec)'"
            )
        if not isinstance(spec, Supervisor | DynamicSupervisor):
            raise SpecError(
                safe_repr(spec),
                "spec",
                "must be a Supervisor or DynamicSupervisor at the root",
            )
        if options is None:
            options = TreeOptions()
        if not isinstance(options, TreeOptions):
            raise TypeError(f"options must be TreeOptions, got {safe_repr(options)}")
        self._spec = spec
        # What the nodes share: clock, watchdog, version, crash counts, abort.
        hub = self._hub = Hub(trio.lowlevel.current_clock())
        self._now = hub.now
        self._checks = [s for svc in services for s in svc.check_states()]
        #: Where the HTTP server listens once started ("127.0.0.1:8080").
        self.http_addresses: list[str] = []
        #: What every surface reads the tree through (rate-limited snapshot,
        #: probe facts, verdicts, changes): see `TreeObserver`.
        self.observer = TreeObserver(
            version=lambda: hub.version,
            snapshot=self.snapshot,
            walk=self._walk_children,
            facts=self._probe_facts,
            shutting_down=lambda: self._root.closing,
            wait_change=hub.wait_change,
            bump=hub.bump,
            checks=self._checks,
        )
        top = self._top = TopNodes(spec, options, hub, services, self)
        self._root, self._root_slot = top.root, top.root_slot
        self._system_slot = top.system_slot

    async def _run_root(
        self, task_status: StartedHandle = trio.TASK_STATUS_IGNORED
    ) -> None:
        """
        Open the services (the HTTP server binds its listener), then run the
        tree. A service that cannot open fails the run at once (an address that
        cannot be bound: `HttpBindError`), before any child starts.
        """
        await self._top.run(self, task_status)

    @moved("Tree.check_states()", "Tree.observer.checks()")
    def check_states(self) -> list[CheckState]:
        """The cached results of the tree's checks."""
        return self._checks

    @property
    @moved("Tree.shutting_down", "Tree.observer.shutting_down")
    def shutting_down(self) -> bool:
        """The tree is stopping (readiness fails from the first moment)."""
        return self._root.closing

    def _is_dynamic_supervisor(self, path: str) -> bool:
        """Does *path* name a running dynamic supervisor (no error for other nodes)?"""
        try:
            return self._node(path).dynamic
        except (ChildLookupError, NotSupported, TreeNotRunning):
            return False

    async def _start_stopped_child(self, path: str) -> None:
        """
        Start the stopped child at *path* again.

        Raises:
            ChildRunning: It is running, starting or waiting to restart.
        """
        await self._restart(path, only_stopped=True)

    # ---- inspection ----------------------------------------------------------

    @property
    def version(self) -> int:
        """Changes whenever anything in the tree changes."""
        return self._hub.version

    def snapshot(self) -> TreeSnapshot:
        """An immutable, JSON-serialisable view of the whole tree (`TreeSnapshot.as_dict`)."""
        now = self._now()
        system = self._system_slot
        return TreeSnapshot(
            version=self._hub.version,
            time=now,
            root=self._root_slot.snapshot(now, self._hub.beat_offset),
            system=None
            if system is None
            else system.snapshot(now, self._hub.beat_offset),
            event_loop=self.event_loop_health(),
            crashes=tuple(sorted(self._hub.crashes.items())),
        )

    def _probe_facts(self, walk: ChildWalk) -> TreeFacts:
        """The verdicts' facts: *walk* (see `_walk_children`), the rest read now."""
        root = self._root_slot
        return TreeFacts(
            time=self._now(),
            root_path=root.path,
            root_state=root.state,
            event_loop=self.event_loop_health(),
            laggards=walk.laggards,
            unstopped=walk.unstopped,
        )

    def _walk_children(self) -> ChildWalk:
        """The children the verdicts name, from one walk of the live tree."""
        walk = ChildWalk()
        _walk(self._root, walk, required=True)
        return walk

    @moved("Tree.probe_facts()", "Tree.observer.facts()")
    def probe_facts(self, walk: ChildWalk | None = None) -> TreeFacts:
        """What the health probes need, read from the live tree."""
        return self._probe_facts(walk or self._walk_children())

    @moved("Tree.walk_children()", "Tree.observer.facts()")
    def walk_children(self) -> ChildWalk:
        """The children the verdicts name, from one walk of the live tree."""
        return self._walk_children()

    @moved("Tree.not_ready_children()", "Tree.observer.facts().laggards")
    def not_ready_children(self) -> list[str]:
        """Paths of the required children that are not running."""
        return self._walk_children().laggards

    def event_loop_health(self) -> EventLoopHealth:
        """Is the trio loop blocked right now, and how often and long was it."""
        if self._top.loopwatch is None:
            return UNWATCHED
        return self._top.loopwatch.health()

    def which_children(self, path: str) -> list[NodeSnapshot]:
        """The children of the supervisor at *path*, in start order."""
        node = self._node(path)
        now = self._now()
        return [
            slot.snapshot(now, self._hub.beat_offset) for slot in node.slots.values()
        ]

    def child_state(self, path: str) -> State | None:
        """The state of the child at *path* now, or None if there is none."""
        try:
            return self._child(path)[1].state
        except (ChildLookupError, NotSupported, TreeNotRunning):
            return None

    def count_children(self, path: str) -> ChildCounts:
        """How many children the supervisor at *path* has, by kind and activity."""
        slots = list(self._node(path).slots.values())
        supervisors = sum(1 for s in slots if s.traits.supervises)
        return ChildCounts(
            specs=len(slots),
            active=sum(1 for s in slots if s.running),
            supervisors=supervisors,
            workers=len(slots) - supervisors,
        )

    # ---- control -------------------------------------------------------------

    async def start_child(
        self,
        path: str,
        spec: NodeSpec | None = None,
        *,
        args: Sequence[Any] = (),
        name: str | None = None,
    ) -> str:
        """
        Add a child to the supervisor at *path*, start it, and return its path.

        For a `Supervisor`, pass the child's *spec*; it comes after the
        children already there in start order (first in stop order). For a
        `DynamicSupervisor`, pass *args* (appended to the template's) and
        optionally a *name*. It starts at once, as OTP's ``start_child``: not
        held by siblings waiting in the start queue. Returns once the child
        counts as started or its first attempt has ended (it is then in
        backoff, being retried like any crashed child).

        Raises:
            ChildLookupError: No supervisor at *path*.
            ChildExists: The name is taken.
            TooManyChildren: A dynamic supervisor is at *max_children*.
            SpecError: A spec given to a dynamic supervisor, or args to a static one.
        """
        child, settled = await self._add_child_soon(path, spec, args=args, name=name)
        await settled.wait()
        return child

    async def _add_child_soon(
        self,
        path: str,
        spec: NodeSpec | None = None,
        *,
        args: Sequence[Any] = (),
        name: str | None = None,
    ) -> tuple[str, trio.Event]:
        """
        `start_child` up to the child's launch: its path, and an event set once
        its start has settled (the HTTP surface answers 202 while it is not).
        """
        node = self._node(path)
        extra = tuple(args)

        async def add() -> tuple[Slot, trio.Event]:
            if self._node(path) is not node:  # pragma: no cover - see _resolve
                raise TreeNotRunning(path, "this supervisor was restarted")
            slot = node.add_child(spec, extra, name)
            # Registered before the child's task first runs: its first attempt
            # cannot end unseen.
            return slot, node.settle_event(slot)

        slot, settled = await node.call(add)
        return slot.path, settled

    async def terminate_child(self, path: str) -> None:
        """
        Stop the child at *path* (its supervisor keeps the spec; a dynamic child is removed).

        Reverse-order and shutdown rules are those of any stop. Not counted as a
        crash and never restarted until `restart_child`. A child that had not
        started yet (queued, or failing its start in backoff) takes the siblings
        queued after it out of the queue: they stay stopped until restarted.
        """
        node, _ = self._child(path)

        async def terminate() -> None:
            await node.terminate(self._resolve(node, path))

        await node.call(terminate)

    async def restart_child(self, path: str) -> None:
        """
        Start the child at *path* again: stop it first if it runs (like systemd's
        ``restart``; OTP only restarts a terminated child). No backoff, and not
        counted against intensity; started at once, even while an earlier
        sibling is stuck failing its start. Returns once it has started or its
        start failed.
        """
        await self._restart(path, only_stopped=False)

    async def _restart(self, path: str, *, only_stopped: bool) -> None:
        node, _ = self._child(path)

        async def restart() -> trio.Event:
            slot = self._resolve(node, path)
            if only_stopped and node.is_busy(slot):
                raise ChildRunning(
                    path, "is already running (or about to be restarted)"
                )
            await node.restart(slot)
            return node.settle_event(slot)

        settled = await node.call(restart)
        await settled.wait()

    async def delete_child(self, path: str) -> None:
        """
        Forget the stopped child at *path*.

        A child listed ``stopped`` can be deleted, also one still queued to
        start after a sibling.

        Raises:
            ChildRunning: It still runs; `terminate_child` it first.
        """
        node, _ = self._child(path)

        async def delete() -> None:
            node.delete(self._resolve(node, path))

        await node.call(delete)

    async def stop(self) -> None:
        """Stop the whole tree in reverse start order and wait until it has stopped."""
        self.request_stop()
        await self.wait_stopped()

    def request_stop(self) -> None:
        """Begin stopping the whole tree in reverse start order; do not wait."""
        self._root.begin_close()

    async def wait_stopped(self) -> None:
        """Wait until the tree has stopped (by `stop`, auto_shutdown or giving up)."""
        await self._top.done.wait()

    # ---- addressing ----------------------------------------------------------

    def _node(self, path: str) -> Node:
        names = path.split("/")
        if names[0] != self._spec.name:
            raise ChildLookupError(
                path, f"tree paths start with the root's name {self._spec.name!r}"
            )
        node = self._root
        for depth, name in enumerate(names[1:], start=1):
            slot = node.slot(name)
            here = "/".join(names[: depth + 1])
            if slot.traits.supervises:
                child = slot.node
                # A supervisor child's node is always a Node (Node.child_node).
                if not isinstance(child, Node) or not slot.active:
                    raise TreeNotRunning(here, "this supervisor is not running")
                node = child
            else:
                raise NotSupported(here, "is a worker, not a supervisor")
        if node.closing:
            raise TreeNotRunning(path, "the supervisor is stopping")
        return node

    def _resolve(self, node: Node, path: str) -> Slot:
        """
        The child at *path*, looked up again when its control job runs in
        *node*'s control task: what was queued before it may have removed
        the child (`ChildLookupError`) or replaced its supervisor.
        """
        again, slot = self._child(path)
        if again is not node:  # pragma: no cover - a replaced node is closed first
            raise TreeNotRunning(path, "its supervisor was restarted")
        return slot

    def _child(self, path: str) -> tuple[Node, Slot]:
        parent, sep, name = path.rpartition("/")
        if not sep:
            raise NotSupported(path, "is the root; use Tree.stop() to stop the tree")
        node = self._node(parent)
        return node, node.slot(name)


def _walk(node: Supervising, walk: ChildWalk, *, required: bool) -> None:
    for slot in node.slots.values():
        # One-shot jobs (and their subtrees) are never required.
        needed = required and slot.spec.restart is not Restart.TEMPORARY
        if needed and not_ready(slot.state, slot.last_exit):
            walk.laggards.append(slot.path)
        if slot.state is State.UNSTOPPED:
            walk.unstopped.append(slot.path)
        if slot.node is not None:
            _walk(slot.node, walk, required=needed)
