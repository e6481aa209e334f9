"""
The runtime's side of fleet singletons (`supervisor._runtime.singleton`), with a
coordinator of the tests' own (the etcd one is tested against a real etcd in
tests/integrations): standby until elected, back to standby when the term ends
(not a crash), fencing tokens, and the error without a coordinator.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
import trio

import supervisor
from supervisor import Child, DynamicSupervisor, Process, State, Supervisor
from supervisor._entry import _tree
from supervisor._fleet import singleton_paths
from supervisor._options import TreeOptions
from supervisor._runtime.singleton import Term, serving


class Coordinator:
    """Leadership handed out by the test: `elect` grants a path, `depose` ends it."""

    def __init__(self) -> None:
        self.granted: dict[str, trio.Event] = {}
        self.terms: dict[str, Term] = {}
        self.token = 0
        self.resigned: list[str] = []

    def elect(self, path: str) -> None:
        self.granted.setdefault(path, trio.Event()).set()

    def depose(self, path: str) -> None:
        self.granted.pop(path, None)
        self.terms[path].scope.cancel()

    def leadership(self, path: str) -> AbstractAsyncContextManager[Term]:
        return self._leadership(path)

    @asynccontextmanager
    async def _leadership(self, path: str) -> AsyncIterator[Term]:
        await self.granted.setdefault(path, trio.Event()).wait()
        self.token += 1
        term = self.terms[path] = Term(token=self.token)
        try:
            yield term
        finally:
            self.resigned.append(path)


def _state(tree: supervisor.Tree, path: str) -> State | None:
    return tree.child_state(path)


async def _until(
    tree: supervisor.Tree, check: Callable[[], bool], limit: float = 5.0
) -> None:
    """Wait (on the tree's changes, no polling) until *check* holds."""
    with trio.fail_after(limit):
        while not check():
            await tree.observer.changed(tree.version)


async def test_standby_until_elected_then_back_on_deposal(
    autojump_clock: object,
) -> None:
    runs: list[int] = []
    coordinator = Coordinator()

    async def job() -> None:
        runs.append(supervisor.fencing_token())
        await trio.sleep_forever()

    async def plain() -> None:
        await trio.sleep_forever()

    spec = Supervisor(
        name="root",
        children=[
            Child(name="job", target=job, singleton=True),
            Child(name="after", target=plain),  # not held up by the standby one
        ],
    )
    with serving(coordinator):
        async with supervisor.open_tree(spec) as tree:
            assert _state(tree, "root/job") is State.STANDBY
            assert _state(tree, "root/after") is State.RUNNING
            # Standby does not count against readiness.
            assert tree.observer.verdicts()["readyz"]
            coordinator.elect("root/job")
            await _until(tree, lambda: _state(tree, "root/job") is State.RUNNING)
            assert runs == [1]
            coordinator.depose("root/job")
            await _until(tree, lambda: _state(tree, "root/job") is State.STANDBY)
            assert coordinator.resigned == ["root/job"]
            # Losing a term is no crash: no restart counted, the supervisor is calm.
            snap = tree.snapshot().root.children[0]
            assert snap.restarts == 0
            assert snap.last_exit is None
            coordinator.elect("root/job")
            await _until(tree, lambda: _state(tree, "root/job") is State.RUNNING)
            assert runs == [1, 2]
    # Stopping the tree resigned the second term too.
    assert coordinator.resigned == ["root/job", "root/job"]


async def test_a_singleton_supervisor_stops_its_children_when_deposed(
    autojump_clock: object,
) -> None:
    coordinator = Coordinator()
    spec = Supervisor(
        name="root",
        children=[
            Supervisor(
                name="cron",
                singleton=True,
                children=[Child(name="tick", target=trio.sleep_forever)],
            )
        ],
    )
    with serving(coordinator):
        async with supervisor.open_tree(spec) as tree:
            coordinator.elect("root/cron")
            await _until(tree, lambda: _state(tree, "root/cron/tick") is State.RUNNING)
            coordinator.depose("root/cron")
            await _until(tree, lambda: _state(tree, "root/cron") is State.STANDBY)
            children = tree.snapshot().root.children[0].children
            assert [c.state for c in children] == [State.STOPPED]


async def test_stopping_a_standby_singleton(autojump_clock: object) -> None:
    coordinator = Coordinator()
    spec = Supervisor(
        name="root",
        children=[Child(name="job", target=trio.sleep_forever, singleton=True)],
    )
    with serving(coordinator):
        async with supervisor.open_tree(spec) as tree:
            await tree.terminate_child("root/job")
            assert _state(tree, "root/job") is State.STOPPED
            await tree.restart_child("root/job")
            assert _state(tree, "root/job") is State.STANDBY
    assert coordinator.resigned == []  # never elected: nothing to resign


def test_singletons_without_a_coordinator_fail_at_start() -> None:
    spec = Supervisor(
        name="root",
        children=[
            Supervisor(
                name="jobs",
                children=[
                    Child(name="cron", target=trio.sleep_forever, singleton=True)
                ],
            )
        ],
    )
    with pytest.raises(supervisor.NoCoordinator) as caught:
        trio.run(supervisor.run, spec)
    assert caught.value.paths == ("root/jobs/cron",)
    assert "etcd=EtcdOptions" in str(caught.value)
    with pytest.raises(supervisor.NoCoordinator):
        _tree(spec, TreeOptions())


def test_singleton_paths_walk_the_whole_spec() -> None:
    job = Child(name="job", target=trio.sleep_forever, singleton=True)
    spec = Supervisor(
        name="root",
        children=[
            Supervisor(name="cron", singleton=True, children=[job]),
            DynamicSupervisor(name="pool", template=job),
            Child(name="plain", target=trio.sleep_forever),
        ],
    )
    assert singleton_paths(spec) == ["root/cron", "root/cron/job", "root/pool/job"]
    assert singleton_paths(object()) == []


def test_fencing_token_outside_a_singleton() -> None:
    with pytest.raises(supervisor.NoFencingToken):
        supervisor.fencing_token()


async def test_singleton_field_is_validated() -> None:
    with pytest.raises(supervisor.SpecError):
        Child(name="x", target=trio.sleep_forever, singleton="yes")  # type: ignore[arg-type]


async def test_a_singleton_process_is_stopped_in_order_when_deposed() -> None:
    # Real clock: a real OS process.
    coordinator = Coordinator()
    spec = Supervisor(
        name="root",
        children=[
            Process(name="job", argv=["sleep", "600"], singleton=True, shutdown=2)
        ],
    )
    with serving(coordinator):
        async with supervisor.open_tree(spec) as tree:
            assert _state(tree, "root/job") is State.STANDBY
            coordinator.elect("root/job")
            await _until(tree, lambda: _state(tree, "root/job") is State.RUNNING)
            [job] = tree.snapshot().root.children
            assert job.process is not None
            pid = job.process.pid
            assert pid is not None
            coordinator.depose("root/job")
            await _until(tree, lambda: _state(tree, "root/job") is State.STANDBY)
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)  # stopped (SIGTERM to its group), and reaped
