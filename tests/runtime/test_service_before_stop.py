"""
`Service.before_stop`: awaited when the user's root begins to stop, before any
of its children stops (a registry forgets the instance first), whatever
stops the tree.
"""

from __future__ import annotations

from collections.abc import Sequence

import trio

from supervisor import Child, Supervisor
from supervisor._options import TreeOptions
from supervisor._runtime.services import Service
from supervisor._runtime.tree import Tree


class Leaving(Service[Tree]):
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def children(self, tree: Tree) -> Sequence[Child]:
        return []

    async def before_stop(self) -> None:
        self.log.append("leaving")
        await trio.sleep(1)  # a request to a registry, say
        self.log.append("left")


def spec(log: list[str]) -> Supervisor:
    async def worker(name: str) -> None:
        try:
            await trio.sleep_forever()
        finally:
            log.append(f"stop {name}")

    return Supervisor(
        name="root",
        children=[Child(name=n, target=worker, args=(n,)) for n in ("a", "b")],
    )


async def test_before_stop_runs_before_any_child_stops(autojump_clock: object) -> None:
    log: list[str] = []
    tree = Tree(spec(log), TreeOptions(), [Leaving(log)], _private=True)
    async with trio.open_nursery() as nursery:
        await nursery.start(tree._run_root)
        await tree.stop()
    assert log == ["leaving", "left", "stop b", "stop a"]


async def test_before_stop_also_when_cancelled_from_outside(
    autojump_clock: object,
) -> None:
    log: list[str] = []
    tree = Tree(spec(log), TreeOptions(), [Leaving(log)], _private=True)
    with trio.move_on_after(5):
        await tree._run_root()
    assert log == ["leaving", "left", "stop b", "stop a"]
