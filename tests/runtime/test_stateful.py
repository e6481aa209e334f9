"""
A hypothesis `RuleBasedStateMachine` drives a live tree and checks it against
the timed reference model in tests/_timed_model.py after every step.

The tree runs in its own trio thread under a MockClock that moves only when a
rule says so. Rules crash children, make them return, hang (stop beating),
beat, take long to start (past the start timeout, too), and call
start/terminate/restart/delete child; `wait` moves time forward, stopping at
every instant the model expects the tree to act by itself, so each backoff
end, start and timeout is checked at its exact time. After every step the
tree must agree with the model: which children exist and in which order,
their states, start and restart counts (own, sweep and manual restarts told
apart), the reason of their last exit, backoff deadlines and start times,
count_children's specs and active, the order children were stopped in, and
whether (and when) the supervisor gave up on intensity.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio
import trio.testing
from hypothesis import HealthCheck, event, reject, settings
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
    ChildExists,
    ChildRunning,
    Jitter,
    Restart,
    State,
    Strategy,
    Supervisor,
    TooManyRestarts,
    Tree,
    heartbeat,
    open_tree,
    testing,
)
from tests._timed_model import (
    BACKOFF_FACTOR,
    BACKOFF_INITIAL,
    BACKOFF_MAX,
    RESET_AFTER,
    START_TIMEOUT,
    Ambiguous,
    Clock,
    MChild,
    Model,
    SupSpec,
)

T = TypeVar("T")
WORKERS = ("a", "x", "y", "b")  # start order: root/a, root/s/x, root/s/y, root/b
TOP = ("a", "s", "b")  # the root's children
NODES = (*TOP, "x", "y")  # control calls go to any of these
HEARTBEATS = (None, 3.0, 5.5)
START_DELAYS = (0.0, 1.5, 6.0)  # 6 > START_TIMEOUT: that start times out
WAITS = (0.25, 1.0, 2.5, 6.0)
LONG_WAITS = (4.0, 12.0)
ROOT_INTENSITY, SUB_INTENSITY, PERIOD = 5, 2, 10.0
BACKOFF = Backoff(
    initial=BACKOFF_INITIAL,
    factor=BACKOFF_FACTOR,
    max=BACKOFF_MAX,
    jitter=Jitter.NONE,
    reset_after=RESET_AFTER,
)


def _offset(name: str, unit: float) -> float:
    # Children started together would otherwise time out together, and the
    # order of simultaneous timeouts is the scheduler's choice (see Ambiguous).
    return WORKERS.index(name) * unit


class TreeMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.model: Model | None = None
        self.specs: dict[str, Child | Supervisor] = {}
        self.tree: Any = None
        self.clock = trio.testing.MockClock()
        # Read by the children's code and by the model alike.
        self.start_delays = dict.fromkeys(WORKERS, 0.0)
        self.inboxes: dict[str, trio.MemorySendChannel[str]] = {}
        self.stops: list[str] = []
        self.errors: list[Exception] = []
        self.outcome: list[BaseException] = []
        self.thread: threading.Thread | None = None
        self.token: Any = None
        self.calls: trio.Nursery | None = None
        self.stop: trio.Event | None = None

    # ---- the trio thread ------------------------------------------------------

    def _target(self, name: str) -> Callable[..., Awaitable[None]]:
        async def child(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            send, recv = trio.open_memory_channel[str](math.inf)
            self.inboxes[name] = send
            try:
                delay = self.start_delays[name]
                if delay:
                    await trio.sleep(delay)
                task_status.started()
                async for command in recv:
                    if command == "return":
                        return
                    heartbeat()
            finally:
                self.stops.append(name)

        return child

    async def _main(self, spec: Supervisor, ready: threading.Event) -> None:
        self.token = trio.lowlevel.current_trio_token()
        self.stop = trio.Event()
        async with trio.open_nursery() as calls:
            self.calls = calls
            try:
                async with open_tree(spec, loop_block_threshold=None) as tree:
                    self.tree = tree
                    ready.set()
                    await self.stop.wait()
            except TooManyRestarts as exc:
                # The run goes on, so that every later call still settles and
                # the test reads the outcome only once everything has.
                self.outcome.append(exc)
                await self.stop.wait()
            finally:
                ready.set()

    def _call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        async def settled() -> Any:
            result = await fn()
            await trio.testing.wait_all_tasks_blocked()
            return result

        return trio.from_thread.run(settled, trio_token=self.token)

    def _control(self, call: Callable[[], Awaitable[Any]]) -> None:
        """
        Start a control call without waiting for it: restart_child and
        start_child return only once the start settles, which may take
        (virtual) time that only a later rule lets pass.
        """

        async def guarded() -> None:
            try:
                await call()
            except (ChildExists, ChildRunning) as exc:
                self.errors.append(exc)

        async def spawn() -> None:
            assert self.calls is not None
            self.calls.start_soon(guarded)

        self._call(spawn)

    def _tell(self, name: str, command: str) -> None:
        inbox = self.inboxes[name]
        self._call(lambda: _sync(inbox.send_nowait, command))

    # ---- checking -------------------------------------------------------------

    @property
    def _model(self) -> Model:
        assert self.model is not None
        return self.model

    def _alive(self) -> bool:
        return self.model is not None and not self.model.gave_up

    def _observe(self) -> None:
        """The tree shows what the model says, and stopped children in its order."""
        model = self._model
        gave_up = bool(self.outcome)
        shown = None if gave_up else self._call(lambda: _sync(self._shown))
        expected = None if model.gave_up else model.rows()
        assert (gave_up, self.stops, shown) == (model.gave_up, model.stops, expected)
        if not gave_up:
            counted = self._call(lambda: _sync(self._counted, model))
            assert counted == [(m.path, m.counts()) for m in model.models()]
        if gave_up:
            event("gave up on intensity")

    def _counted(self, model: Model) -> list[tuple[str, tuple[int, int]]]:
        """count_children's specs and active for every supervisor the model runs."""
        counts = [(m.path, self.tree.count_children(m.path)) for m in model.models()]
        return [(path, (c.specs, c.active)) for path, c in counts]

    def _shown(self) -> list[tuple[Any, ...]]:
        return [
            (
                n.path,
                n.state,
                n.starts,
                (n.restarts, n.sweep_restarts, n.manual_restarts),
                None if n.last_exit is None else str(n.last_exit.reason),
                n.next_start_at,
                n.started_at if n.state is State.RUNNING else None,
            )
            for n in self.tree.snapshot().walk()
            if n.path != "root"
        ]

    # ---- rules ----------------------------------------------------------------

    @initialize(
        strategies=st.tuples(st.sampled_from(Strategy), st.sampled_from(Strategy)),
        kinds=st.lists(
            st.tuples(st.sampled_from(Restart), st.sampled_from(HEARTBEATS)),
            min_size=len(WORKERS),
            max_size=len(WORKERS),
        ),
        sub_restart=st.sampled_from(Restart),
    )
    def start(
        self,
        strategies: tuple[Strategy, Strategy],
        kinds: list[tuple[Restart, float | None]],
        sub_restart: Restart,
    ) -> None:
        """root: a, s (a supervisor of x and y), b; random strategies and restarts."""
        beats = {
            n: None if hb is None else hb + _offset(n, 1 / 16)
            for n, (_, hb) in zip(WORKERS, kinds, strict=True)
        }
        restarts = {n: r for n, (r, _) in zip(WORKERS, kinds, strict=True)}

        def worker(name: str) -> tuple[str, Restart, float | None, None]:
            return (name, restarts[name], beats[name], None)

        sub = SupSpec(strategies[1], SUB_INTENSITY, PERIOD, (worker("x"), worker("y")))
        top = SupSpec(
            strategies[0],
            ROOT_INTENSITY,
            PERIOD,
            (worker("a"), ("s", sub_restart, None, sub), worker("b")),
        )
        self.model = Model.boot("root", top, Clock(), [], self.start_delays)
        self.model.settle()
        self.specs = {name: self._child_spec(*worker(name)) for name in WORKERS}
        self.specs["s"] = Supervisor(
            name="s",
            strategy=sub.strategy,
            intensity=sub.intensity,
            period=sub.period,
            backoff=BACKOFF,
            restart=sub_restart,
            children=[self.specs["x"], self.specs["y"]],
        )
        spec = Supervisor(
            name="root",
            strategy=top.strategy,
            intensity=top.intensity,
            period=top.period,
            backoff=BACKOFF,
            children=[self.specs[n] for n in TOP],
        )
        ready = threading.Event()
        self.thread = threading.Thread(
            target=trio.run,
            args=(self._main, spec, ready),
            kwargs={"clock": self.clock},
            daemon=True,  # a stuck run must not keep pytest from exiting
        )
        self.thread.start()
        ready.wait()
        self._observe()

    def _child_spec(
        self, name: str, restart: Restart, beat: float | None, _: None
    ) -> Child:
        return Child(
            name=name,
            target=self._target(name),
            restart=restart,
            heartbeat_timeout=beat,
            start_timeout=START_TIMEOUT,
        )

    def _worker(self, name: str) -> tuple[Model, MChild] | None:
        """The model and state of worker *name*, if its supervisor runs."""
        owner = self._model.owner(name)
        return None if owner is None else (owner, owner.children[name])

    def _act(self, owner: Model, change: Callable[[Model], None]) -> None:
        change(owner)
        self._model.settle()  # a child supervisor may have given up, or started
        self._observe()

    @precondition(_alive)
    @rule(name=st.sampled_from(WORKERS))
    def crash(self, name: str) -> None:
        """Crash a worker that runs or is starting (its start then failed)."""
        found = self._worker(name)
        if found is not None and found[1].in_target:
            owner, child = found
            self._call(lambda: _sync(testing.crash, self.tree, child.path))
            self._act(owner, lambda m: m.exit(name, abnormal=True))

    @precondition(_alive)
    @rule(name=st.sampled_from(WORKERS))
    def exit_normally(self, name: str) -> None:
        found = self._worker(name)
        if found is not None and found[1].running:
            self._tell(name, "return")
            self._act(found[0], lambda m: m.exit(name, abnormal=False))

    @precondition(_alive)
    @rule(name=st.sampled_from(WORKERS))
    def beat(self, name: str) -> None:
        found = self._worker(name)
        if found is not None and found[1].running:
            self._tell(name, "beat")
            self._act(found[0], lambda m: m.beat(name))

    @precondition(_alive)
    @rule(name=st.sampled_from(WORKERS))
    def hang(self, name: str) -> None:
        found = self._worker(name)
        if found is not None and found[1].running and found[1].heartbeat_timeout:
            path = found[1].path
            self._call(lambda: _sync(testing.hang, self.tree, path))
            self._act(found[0], lambda m: m.hang(name))

    @rule(name=st.sampled_from(WORKERS), seconds=st.sampled_from(START_DELAYS))
    def slow_start(self, name: str, seconds: float) -> None:
        """The worker's next starts take *seconds* (past the start timeout, too)."""
        self.start_delays[name] = seconds + _offset(name, 1 / 32) if seconds else 0.0

    def _parent(self, name: str) -> Model | None:
        """The supervisor *name* belongs under, if it runs (x and y: s's current node)."""
        if name in TOP:
            return self._model
        s = self._model.children.get("s")
        running = s is not None and s.in_target and s.sub is not None
        return s.sub if running and s.sub is not None else None

    def _on_child(
        self,
        name: str,
        call: Callable[[Any, str], Awaitable[None]],
        change: Callable[[Model, str], None],
    ) -> None:
        """``call(tree, path)`` on the tree and ``change(model, name)`` on the model."""
        parent = self._parent(name)
        if parent is not None and name in parent.children:
            path = f"{parent.path}/{name}"
            self._control(lambda: call(self.tree, path))
            self._act(parent, lambda m: change(m, name))

    @precondition(_alive)
    @rule(name=st.sampled_from(NODES))
    def terminate(self, name: str) -> None:
        self._on_child(name, Tree.terminate_child, Model.terminate)

    @precondition(_alive)
    @rule(name=st.sampled_from(NODES))
    def restart(self, name: str) -> None:
        self._on_child(name, Tree.restart_child, Model.restart_child)

    @precondition(_alive)
    @rule(name=st.sampled_from(NODES))
    def delete(self, name: str) -> None:
        parent = self._parent(name)
        if parent is not None and name in parent.children:
            self.errors.clear()
            path = f"{parent.path}/{name}"
            self._control(lambda: self.tree.delete_child(path))
            deleted = parent.delete(name)
            assert [type(e) for e in self.errors] == ([] if deleted else [ChildRunning])
            self._observe()

    @precondition(_alive)
    @rule(name=st.sampled_from(NODES))
    def start_child(self, name: str) -> None:
        parent = self._parent(name)
        if parent is None:
            return
        self.errors.clear()
        spec = self.specs[name]
        self._control(lambda: self.tree.start_child(parent.path, spec))
        if name in parent.children:
            assert [type(e) for e in self.errors] == [ChildExists]
            return
        assert self.errors == []
        sub = next(c[3] for c in parent.spec.children if c[0] == name)
        beat = spec.heartbeat_timeout if isinstance(spec, Child) else None
        self._act(parent, lambda m: m.add(name, spec.restart, beat, sub))

    @precondition(_alive)
    @rule(seconds=st.sampled_from(WAITS))
    def wait(self, seconds: float) -> None:
        """Let *seconds* pass, stopping at every instant the model expects an action."""
        target = self._model.now + seconds
        while self._alive() and self._model.now < target:
            due = self._model.next_event_at()
            step = target if due is None else min(due, target)
            jump = step - self.clock.current_time()
            self._call(lambda: _sync(self.clock.jump, jump))  # noqa: B023 - awaited here
            assert self.clock.current_time() == step
            try:
                self._model.advance_to(step)
            except Ambiguous as tie:
                event("discarded: simultaneous timeouts")
                reject()  # the tree made some choice; the model cannot say which
                raise AssertionError from tie  # reject() does not return
            self._observe()

    @precondition(_alive)
    @rule(seconds=st.sampled_from(LONG_WAITS))
    def wait_long(self, seconds: float) -> None:
        """A second way to let time pass, so that runs reach backoff and timeouts."""
        self.wait(seconds)

    @invariant()
    def time_agrees(self) -> None:
        if self._alive():
            assert self.clock.current_time() == self._model.now

    def teardown(self) -> None:
        if self.thread is None:
            return
        if self.model is not None:
            seen = set().union(*(m.seen for m in self.model.models()))
            for kind in sorted(seen):
                event(f"saw {kind}")
            event(f"virtual time >= {min(int(self.model.now) // 10 * 10, 50)} s")
        if self.thread.is_alive() and self.stop is not None:
            stop = self.stop
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(stop.set, trio_token=self.token)
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), self._call(lambda: _sync(_task_tree))
        if self.model is not None and self.model.gave_up:
            assert [TooManyRestarts] == [type(e) for e in self.outcome]


def _task_tree() -> str:
    """Where every task of the run waits: the tree's run would not end."""
    lines: list[str] = []

    def walk(task: trio.lowlevel.Task, depth: int) -> None:
        frame = task.coro.cr_frame
        where = "" if frame is None else f" {frame.f_code.co_name}:{frame.f_lineno}"
        lines.append(f"{'  ' * depth}{task.name}{where}")
        for nursery in task.child_nurseries:
            for child in nursery.child_tasks:
                walk(child, depth + 1)

    walk(trio.lowlevel.current_root_task(), 0)
    return "\n".join(lines)


async def _sync(fn: Callable[..., T], *args: Any) -> T:
    return fn(*args)


TreeMachine.TestCase.settings = settings(
    # SUPERVISOR_MODEL_EXAMPLES=5000 for a long hunt; CI runs the default.
    max_examples=int(os.environ.get("SUPERVISOR_MODEL_EXAMPLES", "150")),
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_tree_machine = TreeMachine.TestCase
