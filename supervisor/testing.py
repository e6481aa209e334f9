"""
Helpers for testing your own trees deterministically.

Run a tree under trio's `MockClock` (virtual time that jumps when every task
sleeps), inject crashes and hangs into named children, and use scripted
children as stand-ins for real workers::

    from supervisor import Child, Supervisor
    from supervisor import testing

    async def scenario(tree):
        await trio.sleep(10)
        testing.hang(tree, "app/poller")      # stops counting its heartbeats
        await trio.sleep(10)

    snap = testing.run(spec, scenario)
    assert snap.node("app/poller").missed_heartbeats == 1

With pytest-trio, use its ``autojump_clock`` fixture and `open_tree` instead of
`run`; `crash` and `hang` work the same.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio
import trio.testing

from ._entry import open_tree
from ._runtime import faults as _faults
from ._runtime.heartbeat import heartbeat
from ._runtime.tree import Tree
from ._snapshot import TreeSnapshot
from ._spec import SupervisorSpec

__all__ = ["beat_every", "crash", "crash_after", "hang", "run"]


def crash(tree: Tree, path: str, exc: Exception | None = None) -> None:
    """
    Make the running child at *path* crash now with *exc*.

    It is cancelled at its next checkpoint and handled exactly as if it had
    raised *exc* (default: ``RuntimeError("injected crash")``): its restart
    type, backoff and its supervisor's intensity apply.

    Raises:
        ChildLookupError: No child at *path*.
        ChildRunning: The child is not running.
    """
    _faults.crash(
        tree, path, exc if exc is not None else RuntimeError("injected crash")
    )


def hang(tree: Tree, path: str) -> None:
    """
    Make the running child at *path* look hung: its beats are ignored from now on.

    The watchdog then cancels it *heartbeat_timeout* after its last beat before
    this call, as it would a child stuck in an ``await`` that never returns.

    Raises:
        ChildLookupError: No child at *path*.
        ChildRunning: The child is not running.
        NotSupported: The child has no *heartbeat_timeout*.
    """
    _faults.hang(tree, path)


def run(
    spec: SupervisorSpec,
    scenario: Callable[[Tree], Awaitable[object]] | None = None,
    *,
    duration: float | None = None,
) -> TreeSnapshot:
    """
    Run *spec* under an autojumping `trio.testing.MockClock` and return the last snapshot.

    Starts the tree, awaits ``scenario(tree)`` (if given), then lets *duration*
    more virtual seconds pass (if given), takes a snapshot and stops the tree.
    Virtual time: an hour of backoff takes milliseconds.

    Raises:
        TooManyRestarts: The root gave up.
    """
    result: list[TreeSnapshot] = []

    async def main() -> None:
        async with open_tree(spec, loop_block_threshold=None) as tree:
            if scenario is not None:
                await scenario(tree)
            if duration is not None:
                await trio.sleep(duration)
            result.append(tree.snapshot())

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return result[0]


def beat_every(
    interval: float, *, hang_at: float | None = None
) -> Callable[[], Awaitable[None]]:
    """
    A child target that calls `heartbeat` every *interval* seconds, forever.

    With *hang_at*, it stops beating once trio's clock reaches that time and
    waits forever, like a worker stuck on a dead connection.
    """

    async def child() -> None:
        while hang_at is None or trio.current_time() < hang_at:
            heartbeat()
            await trio.sleep(interval)
        await trio.sleep_forever()

    return child


def crash_after(
    seconds: float, exc: Exception | None = None
) -> Callable[[], Awaitable[None]]:
    """A child target that runs *seconds* and then raises *exc* (a RuntimeError by default)."""

    async def child() -> None:
        await trio.sleep(seconds)
        raise exc if exc is not None else RuntimeError(f"crashed after {seconds} s")

    return child
