"""
Model-based test: hypothesis writes random programs of crashes, normal exits,
terminate/restart calls and time jumps; each program runs against a real tree
under a MockClock, and after every step the tree must agree with a small
reference model of OTP's semantics (which children run, start and restart
counts, the order children stop in, when intensity escalates).

The model covers one supervisor with zero backoff, every strategy and restart
type; the timing of backoff is covered by exact tests elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor import (
    Backoff,
    Child,
    Restart,
    State,
    Strategy,
    Supervisor,
    TooManyRestarts,
    open_tree,
    testing,
)

NAMES = ("a", "b", "c", "d")
INTENSITY, PERIOD = 4, 10.0


@dataclass
class ModelChild:
    restart: Restart
    running: bool = True
    starts: int = 1
    restarts: int = 0
    failed: bool = False  # ended abnormally, not restarted


@dataclass
class Model:
    """OTP semantics, restated as plainly as possible."""

    strategy: Strategy
    children: dict[str, ModelChild]
    now: float = 0.0
    window: list[float] = field(default_factory=list)
    gave_up: bool = False

    def exit(self, name: str, *, abnormal: bool) -> list[str]:
        """*name* ended; returns the children expected to stop, in order."""
        child = self.children[name]
        child.running = False
        stops = [name]
        restart = child.restart is Restart.PERMANENT or (
            child.restart is Restart.TRANSIENT and abnormal
        )
        if not restart:
            child.failed = abnormal
            return stops
        self.window = [t for t in self.window if self.now - t <= PERIOD] + [self.now]
        if len(self.window) > INTENSITY:
            self.gave_up = True
            # Giving up stops everything still running, in reverse start order.
            return stops + [
                n for n in reversed(self.children) if self.children[n].running
            ]
        child.restarts += 1
        names = list(self.children)
        if self.strategy is Strategy.ONE_FOR_ONE:
            swept = []
        elif self.strategy is Strategy.ONE_FOR_ALL:
            swept = [n for n in names if n != name]
        else:
            swept = names[names.index(name) + 1 :]
        victims = [n for n in swept if self.children[n].running]
        stops.extend(reversed(victims))  # a sweep stops in reverse start order
        for other in victims:
            sibling = self.children[other]
            sibling.running = sibling.restart is not Restart.TEMPORARY
            if sibling.running:
                sibling.starts += 1
        child.running = True
        child.starts += 1
        return stops

    def terminate(self, name: str) -> list[str]:
        self.children[name].running = False
        return [name]

    def restart(self, name: str) -> list[str]:
        child = self.children[name]
        stops = [name] if child.running else []
        child.running = True
        child.failed = False
        child.starts += 1
        return stops


def assert_agrees(model: Model, snap: Any) -> None:
    """The tree's children have the model's states and counts."""
    for name, expected in model.children.items():
        node = snap.node(f"root/{name}")
        state = (
            State.RUNNING
            if expected.running
            else (State.FAILED if expected.failed else State.STOPPED)
        )
        assert (name, state, expected.starts, expected.restarts) == (
            name,
            node.state,
            node.starts,
            node.restarts,
        )


def actions() -> st.SearchStrategy[tuple[str, str, float]]:
    return st.tuples(
        st.sampled_from(["crash", "exit", "terminate", "restart", "wait"]),
        st.sampled_from(NAMES),
        st.sampled_from([0.5, 3.0, 11.0]),
    )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    strategy=st.sampled_from(list(Strategy)),
    restarts=st.lists(st.sampled_from(list(Restart)), min_size=4, max_size=4),
    program=st.lists(actions(), max_size=25),
)
def test_tree_agrees_with_the_model(
    strategy: Strategy, restarts: list[Restart], program: list[tuple[str, str, float]]
) -> None:
    """
    After every step the tree's states and counts equal the model's.
    """
    model = Model(
        strategy, {n: ModelChild(r) for n, r in zip(NAMES, restarts, strict=True)}
    )
    exits: dict[str, trio.Event] = {}

    stops: list[str] = []
    # The step in flight: where its stops begin, and what they should be (a
    # step that makes the tree give up ends in the except clause below).
    pending: dict[str, Any] = {}

    def target(name: str) -> Any:
        async def child() -> None:
            exits[name] = event = trio.Event()
            try:
                await event.wait()  # returns normally when the program says so
            finally:
                stops.append(name)

        return child

    spec = Supervisor(
        name="root",
        strategy=strategy,
        intensity=INTENSITY,
        period=PERIOD,
        backoff=Backoff(initial=0),
        children=[
            Child(name=n, target=target(n), restart=r)
            for n, r in zip(NAMES, restarts, strict=True)
        ],
    )

    async def step(tree: Any, action: str, name: str, dt: float) -> None:
        path = f"root/{name}"
        running = model.children[name].running
        seen = len(stops)
        expected: list[str] = []
        pending["since"], pending["expected"] = seen, expected
        if action == "crash" and running:
            testing.crash(tree, path)
            expected = pending["expected"] = model.exit(name, abnormal=True)
        elif action == "exit" and running:
            exits[name].set()
            expected = pending["expected"] = model.exit(name, abnormal=False)
        elif action == "terminate" and running:
            await tree.terminate_child(path)
            expected = model.terminate(name)
        elif action == "restart":
            await tree.restart_child(path)
            expected = model.restart(name)
        elif action == "wait":
            await trio.sleep(dt)
            model.now += dt
        await trio.testing.wait_all_tasks_blocked()
        assert expected == stops[seen:], (action, name)

    def agree(tree: Any) -> None:
        assert_agrees(model, tree.snapshot())

    async def main() -> None:
        try:
            async with open_tree(spec, loop_block_threshold=None) as tree:
                for action, name, dt in program:
                    await step(tree, action, name, dt)
                    if model.gave_up:
                        await trio.sleep_forever()  # the tree cancels the block
                    agree(tree)
        except TooManyRestarts:
            assert model.gave_up
            assert pending["expected"] == stops[pending["since"] :]
        else:
            assert not model.gave_up

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
