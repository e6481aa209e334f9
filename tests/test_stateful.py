"""
The same reference model as test_model.py, driven by hypothesis's
RuleBasedStateMachine: each rule acts on a live tree running in its own trio
thread under a MockClock that only moves when a rule jumps it, and an
invariant compares tree and model after every step.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio
import trio.testing
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from supervisor import (
    Backoff,
    Child,
    Restart,
    Strategy,
    Supervisor,
    TooManyRestarts,
    open_tree,
    testing,
)
from tests.test_model import INTENSITY, NAMES, PERIOD, Model, ModelChild, assert_agrees

T = TypeVar("T")


class TreeMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.model: Model | None = None
        self.tree: Any = None
        self.clock = trio.testing.MockClock()
        self.exits: dict[str, trio.Event] = {}
        self.outcome: list[BaseException] = []
        self.thread: threading.Thread | None = None
        self.token: Any = None
        self.stop: trio.Event | None = None

    # ---- the trio thread -------------------------------------------------------

    def _target(self, name: str) -> Any:
        async def child() -> None:
            self.exits[name] = event = trio.Event()
            await event.wait()

        return child

    async def _main(self, spec: Supervisor, ready: threading.Event) -> None:
        self.token = trio.lowlevel.current_trio_token()
        self.stop = trio.Event()
        try:
            async with open_tree(spec, loop_block_threshold=None) as tree:
                self.tree = tree
                ready.set()
                await self.stop.wait()
        except TooManyRestarts as exc:
            self.outcome.append(exc)
        finally:
            ready.set()

    def _call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        async def settled() -> Any:
            result = await fn()
            await trio.testing.wait_all_tasks_blocked()
            return result

        try:
            return trio.from_thread.run(settled, trio_token=self.token)
        except (trio.Cancelled, trio.RunFinishedError):
            # The tree gave up during this step and its run ended: only fine if
            # the model expected exactly that.
            assert self.model is not None
            assert self.model.gave_up
            return None

    # ---- rules -----------------------------------------------------------------

    @initialize(
        strategy=st.sampled_from(list(Strategy)),
        restarts=st.lists(st.sampled_from(list(Restart)), min_size=4, max_size=4),
    )
    def start(self, strategy: Strategy, restarts: list[Restart]) -> None:
        self.model = Model(
            strategy, {n: ModelChild(r) for n, r in zip(NAMES, restarts, strict=True)}
        )
        spec = Supervisor(
            name="root",
            strategy=strategy,
            intensity=INTENSITY,
            period=PERIOD,
            backoff=Backoff(initial=0),
            children=[
                Child(name=n, target=self._target(n), restart=r)
                for n, r in zip(NAMES, restarts, strict=True)
            ],
        )
        ready = threading.Event()
        self.thread = threading.Thread(
            target=trio.run,
            args=(self._main, spec, ready),
            kwargs={"clock": self.clock},
        )
        self.thread.start()
        ready.wait()

    def _alive(self) -> bool:
        return self.model is not None and not self.model.gave_up

    @precondition(_alive)
    @rule(name=st.sampled_from(NAMES))
    def crash(self, name: str) -> None:
        assert self.model is not None
        if self.model.children[name].running:
            self.model.exit(name, abnormal=True)
            self._call(lambda: _sync(testing.crash, self.tree, f"root/{name}"))

    @precondition(_alive)
    @rule(name=st.sampled_from(NAMES))
    def exit_normally(self, name: str) -> None:
        assert self.model is not None
        if self.model.children[name].running:
            self.model.exit(name, abnormal=False)
            self._call(lambda: _sync(self.exits[name].set))

    @precondition(_alive)
    @rule(name=st.sampled_from(NAMES))
    def terminate(self, name: str) -> None:
        assert self.model is not None
        if self.model.children[name].running:
            self._call(lambda: self.tree.terminate_child(f"root/{name}"))
            self.model.terminate(name)

    @precondition(_alive)
    @rule(name=st.sampled_from(NAMES))
    def restart(self, name: str) -> None:
        assert self.model is not None
        self._call(lambda: self.tree.restart_child(f"root/{name}"))
        self.model.restart(name)

    @rule(seconds=st.sampled_from([0.5, 3.0, 11.0]))
    def wait(self, seconds: float) -> None:
        # Always allowed: after the tree gave up, steps are no-ops.
        if not self._alive():
            return
        assert self.model is not None
        self._call(lambda: _sync(self.clock.jump, seconds))
        self.model.now += seconds

    @invariant()
    def agrees_with_the_model(self) -> None:
        if self.model is None:
            return
        if self.model.gave_up:
            assert self.thread is not None
            self.thread.join(timeout=10)
            assert [TooManyRestarts] == [type(e) for e in self.outcome]
            return
        assert_agrees(self.model, self._call(lambda: _sync(self.tree.snapshot)))

    def teardown(self) -> None:
        if self.thread is None:
            return
        if self.thread.is_alive() and self.stop is not None:
            stop = self.stop
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(stop.set, trio_token=self.token)
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


async def _sync(fn: Callable[..., T], *args: Any) -> T:
    return fn(*args)


TreeMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_tree_machine = TreeMachine.TestCase
