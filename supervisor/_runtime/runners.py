"""
One runner per kind of child, and the one table (`KINDS`) that maps a spec
type to its runner and to what the runtime needs to know about that kind.

The runtime dispatches on the kind of a child nowhere else: a slot reads its
`Traits` once (`traits`) and calls ``traits.runner``. A new kind of child (an
OS process) is a runner and a row here; the restart logic is not copied.

A runner's interface is small, after OTP's shutdown protocol (``exit(Child,
shutdown)``, wait *shutdown* seconds, then ``exit(Child, kill)``):

* ``run(node, inc, spec)``: the awaitable that runs the child's code for
  incarnation *inc* (awaited inside ``inc.scope``); it tells *node* when the
  child counts as started;
* ``stop(inc)``: ask it to end (a graceful request if it takes one, else a
  cancellation); its supervisor bounds the wait by the child's *shutdown*;
* ``kill(inc)``: the bound passed: end it harder (a process: SIGKILL to its group). Returns whether it did (the
  supervisor then waits one more bound before reporting it ``unstopped``).
  A trio task has nothing harder than a cancellation: trio cannot abandon a
  task, so past the cancellation ``kill`` is a no-op that says so.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, Final, Generic, Protocol, TypeVar

import attrs
import trio

from .._policy.states import Reason
from .._process_spec import Process
from .._spec import (
    AutoShutdown,
    Child,
    DynamicSupervisor,
    NodeSpec,
    Strategy,
    Supervisor,
    SupervisorSpec,
)
from .process_runner import PROCESS
from .singleton import COORDINATOR, NoCoordinator, fenced

S_contra = TypeVar("S_contra", contravariant=True)
_SHUTDOWN = Reason.SHUTDOWN


class Incarnation(Protocol):
    """What a runner reads and does to one run of a child (`slot.Incarnation`)."""

    @property
    def stop_event(self) -> trio.Event | None: ...
    @property
    def running(self) -> bool: ...
    @property
    def cancel_reason(self) -> Reason | None: ...
    @property
    def slot(self) -> Any: ...  # its path names a singleton's election
    def cancel(self, reason: Reason) -> None: ...


class ChildNode(Protocol):
    """A supervisor child's own node, as its runner runs it (`Node`)."""

    def run(self, task_status: Any) -> Awaitable[None]: ...


class Node(Protocol):
    """What a runner tells the child's supervisor (`node.Node`)."""

    def calling(self, inc: Any, start_timeout: float | None) -> None: ...
    def task_status(self, inc: Any) -> Any: ...
    def child_node(self, inc: Any, spec: SupervisorSpec) -> ChildNode: ...
    def on_started(self, inc: Any) -> None: ...
    def standby(self, inc: Any) -> None: ...  # a singleton waits for its election
    def elected(self, inc: Any) -> None: ...  # ... and won it


class Runner(Protocol, Generic[S_contra]):
    """How the runtime runs, stops and kills one kind of child (see the module doc)."""

    def run(
        self, node: Node, inc: Incarnation, spec: S_contra
    ) -> Awaitable[object]: ...

    def stop(self, inc: Incarnation) -> None: ...

    def kill(self, inc: Incarnation) -> bool: ...


class TaskRunner:
    """A `Child`: its async target, awaited in the incarnation's task."""

    # Not a coroutine itself: the incarnation awaits the target's own, one
    # frame less per running child (memory) and per restart (time).
    def run(self, node: Node, inc: Incarnation, spec: Child) -> Awaitable[object]:
        if spec.takes_task_status:
            node.calling(inc, spec.start_timeout)
            status = node.task_status(inc)
            return spec.target(*spec.args, task_status=status, **spec.kwargs)  # type: ignore[no-any-return]
        node.on_started(inc)
        return spec.target(*spec.args, **spec.kwargs)  # type: ignore[no-any-return]

    def stop(self, inc: Incarnation) -> None:
        if inc.stop_event is not None and inc.running:
            inc.stop_event.set()  # graceful_stop: it may return on its own
        else:
            inc.cancel(_SHUTDOWN)

    def kill(self, inc: Incarnation) -> bool:
        if inc.cancel_reason is not None:
            return False  # cancelled already: trio cannot abandon a task
        inc.cancel(_SHUTDOWN)  # its grace is over
        return True


class SupervisorRunner:
    """A `Supervisor` or `DynamicSupervisor`: a `Node` of its own, run in the task."""

    def run(
        self, node: Node, inc: Incarnation, spec: SupervisorSpec
    ) -> Awaitable[object]:
        node.calling(inc, None)
        child = node.child_node(inc, spec)
        return child.run(node.task_status(inc))

    def stop(self, inc: Incarnation) -> None:
        # Its node turns the cancellation into an ordered stop of its children.
        inc.cancel(_SHUTDOWN)

    def kill(self, inc: Incarnation) -> bool:
        return False  # trio cannot abandon a task


class SingletonRunner:
    """
    A fleet singleton of any kind (``spec.singleton``, see `singleton`): the
    kind's own runner, run only while this instance leads the child's election;
    in ``standby`` otherwise, and again when a term ends under it (in the same
    incarnation: losing a term is not a crash).
    """

    def __init__(self, inner: Runner[Any]) -> None:
        self.inner = inner

    async def run(self, node: Node, inc: Incarnation, spec: Any) -> None:
        path = inc.slot.path
        coordinator = COORDINATOR.get()
        if coordinator is None:
            raise NoCoordinator((path,))
        while True:
            node.standby(inc)
            async with coordinator.leadership(path) as term:
                with term.scope:
                    # A term ended before it began (the session ended meanwhile)
                    # must not run the child up to its first checkpoint.
                    await trio.lowlevel.checkpoint_if_cancelled()
                    with fenced(term.token):
                        node.elected(inc)
                        await self.inner.run(node, inc, spec)
                if not term.scope.cancel_called:
                    return  # it ended by itself: its exit is handled as any other
            # Leadership ended under it: back to standby, in the same incarnation.

    def stop(self, inc: Incarnation) -> None:
        self.inner.stop(inc)

    def kill(self, inc: Incarnation) -> bool:
        return self.inner.kill(inc)


TASK: Final = TaskRunner()
SUPERVISOR: Final = SupervisorRunner()


@attrs.frozen
class Traits:
    """What the runtime needs to know about one spec, read from it once."""

    kind: str  # NodeSnapshot.kind
    runner: Runner[Any]
    supervises: bool = False  # a supervisor: a node with children of its own
    dynamic: bool = False  # children added at run time, each restarted alone
    strategy: Strategy | None = None  # supervisors only
    auto_shutdown: AutoShutdown = AutoShutdown.NEVER
    children: tuple[NodeSpec, ...] = ()  # a static supervisor's initial children
    graceful: bool = False  # Child(graceful_stop=True)
    heartbeat_timeout: float | None = None
    singleton: bool = False  # runs on one instance of the fleet (`_singleton`)


def _task(spec: Child) -> Traits:
    return _worker(spec.graceful_stop, spec.heartbeat_timeout)


@functools.lru_cache(maxsize=256)
def _worker(graceful: bool, heartbeat_timeout: float | None) -> Traits:
    # One Traits per distinct worker kind, shared by every slot of that kind
    # (frozen): ten thousand workers hold one object, not ten thousand.
    return Traits(
        "worker", TASK, graceful=graceful, heartbeat_timeout=heartbeat_timeout
    )


def _process(spec: Process) -> Traits:
    return Traits("process", PROCESS, heartbeat_timeout=spec.heartbeat_timeout)


def _supervisor(spec: Supervisor) -> Traits:
    return Traits(
        "supervisor",
        SUPERVISOR,
        supervises=True,
        strategy=spec.strategy,
        auto_shutdown=spec.auto_shutdown,
        children=tuple(spec.children),
    )


def _dynamic(spec: DynamicSupervisor) -> Traits:
    return Traits(
        "dynamic_supervisor",
        SUPERVISOR,
        supervises=True,
        dynamic=True,
        strategy=Strategy.ONE_FOR_ONE,
    )


#: Spec type -> its traits (runner, snapshot kind, ...). The one dispatch on kinds.
KINDS: Final[dict[type[Any], Callable[[Any], Traits]]] = {
    Child: _task,
    Process: _process,
    Supervisor: _supervisor,
    DynamicSupervisor: _dynamic,
}


def traits(spec: NodeSpec) -> Traits:
    """The traits of *spec*'s kind (a `KeyError` for a type that is not a spec)."""
    kind = KINDS[type(spec)](spec)
    # Any kind may be a fleet singleton: its own runner, run while it leads.
    if getattr(spec, "singleton", False):
        return attrs.evolve(kind, runner=SingletonRunner(kind.runner), singleton=True)
    return kind
