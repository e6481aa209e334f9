"""
Control calls that race each other and the tree's own restarts.

A control job resolves its child when it runs, not when it was queued, so one
name never runs twice and the tree always stops (item 3 of issue 9); and an
explicit control call is not held by the start queue behind a sibling stuck
failing its start (item 10). The fuzz tests throw thousands of seeded random
calls, in code and over the ASGI app, at a tree whose children crash, start
slowly and clean up slowly, and count live copies of every child by name.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from supervisor import (
    Backoff,
    Child,
    ChildExists,
    ChildLookupError,
    ChildRunning,
    DynamicSupervisor,
    HealthApp,
    Jitter,
    NotSupported,
    Restart,
    State,
    Strategy,
    Supervisor,
    TooManyChildren,
    Tree,
    TreeNotRunning,
    open_tree,
    testing,
)
from supervisor.http._routes import CONTROL_ANSWER_WITHIN
from tests.http.test_http_fuzz import call

TOKEN = "control-token"
EXPECTED = (
    ChildExists,
    ChildLookupError,
    ChildRunning,
    NotSupported,
    TooManyChildren,
    TreeNotRunning,
)


class Census:
    """Live incarnations by child path: a second copy of one name is a ghost."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.live: dict[str, int] = {}
        self.dupes: list[str] = []
        self.rng = rng or random.Random(0)
        # Set once a stop overran its budget: every child then returns at once,
        # so a ghost ends too and the test fails instead of hanging.
        self.doomed = trio.Event()

    def worker(
        self,
        *,
        crashes: bool = False,
        cleanup: float = 0.0,
        cleanup_upto: float = 0.0,
        slow_start: bool = False,
    ) -> Callable[..., Any]:
        """A child that counts itself in; its cleanup takes *cleanup* s (or up to *cleanup_upto*)."""
        census = self

        async def child(
            *parts: str, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
        ) -> None:
            key = "/".join(parts)
            if key in census.live:
                census.dupes.append(key)
            census.live[key] = census.live.get(key, 0) + 1
            try:
                rng = census.rng
                if slow_start:
                    await trio.sleep(rng.choice((0, 0, 0.1, 0.5)))
                task_status.started()
                life = rng.uniform(0.1, 3) if crashes else math_inf
                with trio.move_on_after(life):
                    await census.doomed.wait()
                if not census.doomed.is_set():
                    raise RuntimeError(f"{key} crashed")
            finally:
                if cleanup or cleanup_upto:
                    with trio.CancelScope(shield=True):
                        await trio.sleep(cleanup + census.rng.uniform(0, cleanup_upto))
                census.live[key] -= 1
                if not census.live[key]:
                    del census.live[key]

        return child


math_inf = float("inf")


@asynccontextmanager
async def census_tree(spec: Supervisor, census: Census) -> AsyncIterator[Tree]:
    """open_tree, and at its end every child returns: a ghost too, so a failure ends."""
    async with open_tree(spec, loop_block_threshold=None) as tree:
        try:
            yield tree
        finally:
            census.doomed.set()


QUICK = Backoff(initial=0.05, max=0.5, jitter=Jitter.NONE, reset_after=1)


async def asgi(app: Any, method: str, path: str, body: bytes = b"") -> tuple[int, Any]:
    """One request straight to the ASGI app, with the token; (status, parsed body)."""
    request = {
        "method": method,
        "path": path,
        "query": b"",
        "headers": [(b"authorization", f"Bearer {TOKEN}".encode())],
        "body": body,
    }
    # The answer is bounded: a control call answers within CONTROL_ANSWER_WITHIN.
    status, raw = await call(app, request, within=CONTROL_ANSWER_WITHIN + 1)
    return status, json.loads(raw) if raw.startswith((b"{", b"[")) else raw


# ---- item 3: a control job resolves its child when it runs -------------------


def pool_tree(census: Census) -> Supervisor:
    template = Child(
        name="w", target=census.worker(cleanup=1), args=("root/pool",), shutdown=5
    )
    return Supervisor(
        name="root", children=[DynamicSupervisor(name="pool", template=template)]
    )


async def test_restart_queued_behind_a_dynamic_terminate_finds_no_child(
    autojump_clock: Any,
) -> None:
    """
    terminate then restart 50 ms later of a dynamic child with slow cleanup: the
    restart is a ChildLookupError, no copy is left running, and the tree stops.
    """
    census = Census()
    async with census_tree(pool_tree(census), census) as tree:
        await tree.start_child("root/pool", args=("a",), name="a")
        errors: list[BaseException] = []

        async def restart() -> None:
            try:
                await tree.restart_child("root/pool/a")
            except ChildLookupError as exc:
                errors.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(tree.terminate_child, "root/pool/a")
            await trio.sleep(0.05)
            nursery.start_soon(restart)

        assert ["root/pool/a"] == [e.path for e in errors]  # type: ignore[attr-defined]
        assert ({}, []) == (census.live, tree.which_children("root/pool"))
        with trio.fail_after(1):
            await tree.stop()


async def test_http_restart_50ms_after_terminate_is_a_404_and_the_tree_stops(
    autojump_clock: Any,
) -> None:
    """
    Over HTTP: terminate, then restart 50 ms later, of a dynamic child with slow
    cleanup. The terminate answers 200, the restart 404; no copy is left; stop is quick.
    """
    census = Census()
    async with census_tree(pool_tree(census), census) as tree:
        app = HealthApp(tree, token=TOKEN)
        await tree.start_child("root/pool", args=("a",), name="a")
        answers: dict[str, int] = {}

        async def post(action: str) -> None:
            answers[action] = (
                await asgi(app, "POST", f"/control/{action}/root/pool/a")
            )[0]

        async with trio.open_nursery() as nursery:
            nursery.start_soon(post, "terminate")
            await trio.sleep(0.05)
            nursery.start_soon(post, "restart")

        assert {"terminate": 200, "restart": 404} == answers
        assert {} == census.live
        with trio.fail_after(1):
            await tree.stop()


async def test_start_queued_behind_a_dynamic_terminate_makes_one_copy(
    autojump_clock: Any,
) -> None:
    """
    terminate, start_child of the same name and restart, queued in that order:
    the old copy has ended before the new one starts, and the restart hits the new one.
    """
    census = Census()
    async with census_tree(pool_tree(census), census) as tree:
        await tree.start_child("root/pool", args=("a",), name="a")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(tree.terminate_child, "root/pool/a")
            await trio.sleep(0.05)
            nursery.start_soon(
                lambda: tree.start_child("root/pool", args=("a",), name="a")
            )
            await trio.sleep(0.05)
            nursery.start_soon(tree.restart_child, "root/pool/a")

        assert [] == census.dupes
        assert {"root/pool/a": 1} == census.live
        assert State.RUNNING is tree.snapshot().node("root/pool/a").state


async def test_restart_queued_behind_delete_finds_no_child(
    autojump_clock: Any,
) -> None:
    """
    A static child deleted by a call queued before restart_child: the restart is a
    ChildLookupError and nothing starts.
    """
    census = Census()
    spec = Supervisor(
        name="root",
        children=[
            Child(name="slow", target=census.worker(cleanup=1), args=("root/slow",)),
            Child(name="x", target=census.worker(), args=("root/x",)),
        ],
    )
    async with census_tree(spec, census) as tree:
        await tree.terminate_child("root/x")
        errors: list[BaseException] = []

        async def restart() -> None:
            try:
                await tree.restart_child("root/x")
            except ChildLookupError as exc:
                errors.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(tree.restart_child, "root/slow")  # busy for 1 s
            await trio.sleep(0.01)
            nursery.start_soon(tree.delete_child, "root/x")
            await trio.sleep(0.01)
            nursery.start_soon(restart)

        assert 1 == len(errors)
        assert {"root/slow": 1} == census.live
        assert ["slow"] == [c.name for c in tree.which_children("root")]


async def test_call_queued_on_a_supervisor_that_restarts_is_refused(
    autojump_clock: Any,
) -> None:
    """
    restart_child of root/sub/x queued on sub's node, then sub itself restarted:
    the queued call is TreeNotRunning, and the fresh node runs one copy of each child.
    """
    census = Census()
    sub = Supervisor(
        name="sub",
        children=[
            Child(name="x", target=census.worker(cleanup=1), args=("root/sub/x",)),
            Child(name="y", target=census.worker(cleanup=1), args=("root/sub/y",)),
        ],
    )
    async with census_tree(Supervisor(name="root", children=[sub]), census) as tree:
        errors: list[BaseException] = []

        async def restart_x() -> None:
            try:
                await tree.restart_child("root/sub/x")
            except TreeNotRunning as exc:
                errors.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(tree.restart_child, "root/sub/y")  # sub busy for 1 s
            await trio.sleep(0.1)
            nursery.start_soon(restart_x)  # queued on sub's node
            await trio.sleep(0.1)
            nursery.start_soon(tree.restart_child, "root/sub")

        assert 1 == len(errors)
        assert ([], {"root/sub/x": 1, "root/sub/y": 1}) == (census.dupes, census.live)


# ---- item 10: control calls are not held by the start queue ------------------


def looping_tree(
    strategy: Strategy, census: Census
) -> tuple[Supervisor, dict[str, int]]:
    """db starts once, crashes at 1, then every start fails; app waits behind it."""
    starts = {"db": 0}

    async def db(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        starts["db"] += 1
        if starts["db"] > 1:
            raise ConnectionError("db is down")
        task_status.started()
        await trio.sleep(1)
        raise ConnectionError("db lost")

    spec = Supervisor(
        name="root",
        strategy=strategy,
        intensity=1000,
        period=1,
        backoff=Backoff(initial=10, max=10, jitter=Jitter.NONE),
        children=[
            Child(name="db", target=db),
            Child(name="app", target=census.worker(), args=("root/app",)),
        ],
    )
    return spec, starts


# db crashed at 1, failed its restart at 11, tries again at 21, 31, ...
LOOPING_AT = 15

LOOPING = pytest.mark.parametrize(
    "strategy", [Strategy.REST_FOR_ONE, Strategy.ONE_FOR_ALL]
)


@LOOPING
async def test_control_calls_start_at_once_behind_a_looping_sibling(
    autojump_clock: Any, strategy: Strategy
) -> None:
    """
    While db keeps failing its restart, start_child of a new child and
    restart_child of app (waiting for db) return at once with the child running.
    """
    census = Census()
    spec, _ = looping_tree(strategy, census)
    async with open_tree(spec, loop_block_threshold=None) as tree:
        await trio.sleep(LOOPING_AT)
        assert State.BACKOFF is tree.snapshot().node("root/db").state
        assert State.STOPPED is tree.snapshot().node("root/app").state
        with trio.fail_after(1):
            await tree.start_child(
                "root", Child(name="new", target=census.worker(), args=("root/new",))
            )
            await tree.restart_child("root/app")

        snap = tree.snapshot()
        assert LOOPING_AT == trio.current_time()
        assert (State.RUNNING, State.RUNNING) == (
            snap.node("root/new").state,
            snap.node("root/app").state,
        )
        assert {"root/new": 1, "root/app": 1} == census.live


@LOOPING
async def test_terminating_the_looping_child_leaves_the_next_stopped(
    autojump_clock: Any, strategy: Strategy
) -> None:
    """
    terminate_child of the child failing its restart does not start the sibling
    waiting for it: both stay stopped; restart_child then starts only the one named.
    """
    census = Census()
    spec, starts = looping_tree(strategy, census)
    async with open_tree(spec, loop_block_threshold=None) as tree:
        await trio.sleep(LOOPING_AT)
        await tree.terminate_child("root/db")
        await trio.sleep(30)

        snap = tree.snapshot()
        assert (State.STOPPED, State.STOPPED) == (
            snap.node("root/db").state,
            snap.node("root/app").state,
        )
        assert ({}, 2) == (census.live, starts["db"])
        await tree.restart_child("root/app")
        assert State.RUNNING is tree.snapshot().node("root/app").state
        assert State.STOPPED is tree.snapshot().node("root/db").state


@LOOPING
async def test_delete_child_of_a_stopped_child_waiting_in_the_queue(
    autojump_clock: Any, strategy: Strategy
) -> None:
    """
    app, listed stopped while it waits for db's restart, can be deleted; the
    child failing its restart cannot (it is in backoff).
    """
    census = Census()
    spec, _ = looping_tree(strategy, census)
    async with open_tree(spec, loop_block_threshold=None) as tree:
        await trio.sleep(LOOPING_AT)
        await tree.delete_child("root/app")
        with pytest.raises(ChildRunning):
            await tree.delete_child("root/db")

        assert ["db"] == [c.name for c in tree.which_children("root")]


async def test_http_control_is_not_held_behind_a_looping_sibling(
    autojump_clock: Any,
) -> None:
    """
    Over HTTP too: restart and start of a stopped child waiting for a looping
    sibling answer 200 at once.
    """
    census = Census()
    spec, _ = looping_tree(Strategy.REST_FOR_ONE, census)
    async with open_tree(spec, loop_block_threshold=None) as tree:
        app = HealthApp(tree, token=TOKEN)
        await trio.sleep(LOOPING_AT)
        restarted = await asgi(app, "POST", "/control/restart/root/app")
        terminated = await asgi(app, "POST", "/control/terminate/root/app")
        started = await asgi(app, "POST", "/control/start/root/app")

        assert LOOPING_AT == trio.current_time()
        assert [200, 200, 200] == [restarted[0], terminated[0], started[0]]
        assert State.RUNNING is tree.snapshot().node("root/app").state


async def test_http_control_answers_202_while_the_action_goes_on(
    autojump_clock: Any,
) -> None:
    """
    A control call still in progress after CONTROL_ANSWER_WITHIN seconds is
    answered 202 with the child's current state; the action completes anyway.
    """
    ready = trio.Event()

    async def slow(
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        await ready.wait()
        task_status.started()
        await trio.sleep_forever()

    pool = DynamicSupervisor(
        name="pool", template=Child(name="s", target=slow, start_timeout=60)
    )
    spec = Supervisor(name="root", children=[pool])
    async with open_tree(spec, loop_block_threshold=None) as tree:
        app = HealthApp(tree, token=TOKEN)
        ready.set()
        path = await tree.start_child("root/pool", name="a")
        ready = trio.Event()
        t0 = trio.current_time()
        restarted = await asgi(app, "POST", "/control/restart/root/pool/a")
        started = await asgi(app, "POST", "/control/start/root/pool", b"{}")

        assert CONTROL_ANSWER_WITHIN * 2 == trio.current_time() - t0
        assert (202, {"path": path, "state": "starting"}) == restarted
        assert (202, {"path": "root/pool/s-1", "state": "starting"}) == started
        ready.set()
        await trio.testing.wait_all_tasks_blocked()
        snap = tree.snapshot()
        assert [State.RUNNING, State.RUNNING] == [
            snap.node(p).state for p in (path, "root/pool/s-1")
        ]
        assert (200, {"path": path}) == await asgi(
            app, "POST", "/control/terminate/root/pool/a"
        )


# ---- fuzz: thousands of racing calls while children crash ---------------------

DYNAMIC_NAMES = ("d0", "d1", "d2", "d3", "d4")
STATIC_EXTRA = ("e0", "e1")
OPS = ("start",) * 3 + ("terminate", "restart") * 2 + ("delete",) + ("crash",) * 2


class Fuzz:
    """The fuzzed tree: root a, sub (x, y), b, pool (dynamic), c; e0, e1 added later."""

    def __init__(self, seed: int, strategy: Strategy) -> None:
        self.rng = random.Random(seed)
        self.census = Census(random.Random(seed + 1))
        self.specs: dict[str, Child | Supervisor] = {}
        sub = Supervisor(
            name="sub",
            strategy=strategy,
            intensity=10_000,
            period=1,
            backoff=QUICK,
            children=[self.worker("root/sub/x"), self.worker("root/sub/y", TRANSIENT)],
        )
        self.specs["root/sub"] = sub
        template = Child(
            name="d",
            target=self.census.worker(crashes=True, cleanup_upto=0.3, slow_start=True),
            args=("root/pool",),
            restart=TRANSIENT,
            shutdown=1,
            start_timeout=2,
        )
        pool = DynamicSupervisor(
            name="pool",
            template=template,
            max_children=4,
            intensity=10_000,
            period=1,
            backoff=QUICK,
        )
        for name in STATIC_EXTRA:
            self.worker(f"root/{name}")
        self.spec = Supervisor(
            name="root",
            strategy=strategy,
            intensity=100_000,
            period=1,
            backoff=QUICK,
            children=[
                self.worker("root/a"),
                sub,
                self.worker("root/b", Restart.TEMPORARY),
                pool,
                self.worker("root/c"),
            ],
        )
        self.targets = (*self.specs, *(f"root/pool/{n}" for n in DYNAMIC_NAMES))

    def worker(self, path: str, restart: Restart = Restart.PERMANENT) -> Child:
        child = Child(
            name=path.rpartition("/")[2],
            target=self.census.worker(crashes=True, cleanup_upto=0.3, slow_start=True),
            args=(path,),
            restart=restart,
            shutdown=1,
            start_timeout=2,
        )
        self.specs[path] = child
        return child

    async def in_code(self, tree: Tree, op: str, target: str) -> None:
        parent, _, name = target.rpartition("/")
        try:
            if op == "start" and parent == "root/pool":
                await tree.start_child(parent, args=(name,), name=name)
            elif op == "start":
                try:
                    await tree._start_stopped_child(target)
                except ChildLookupError:  # deleted (or never added): add it
                    await tree.start_child(parent, self.specs[target])
            elif op == "terminate":
                await tree.terminate_child(target)
            elif op == "restart":
                await tree.restart_child(target)
            elif op == "delete":
                await tree.delete_child(target)
            else:
                testing.crash(tree, target)
        except EXPECTED:
            pass

    async def run(self, count: int, call: Callable[[Tree, str, str], Any]) -> None:
        """
        *count* random calls, overlapping, then a stop: every call must end,
        no name may run twice, and the stop must keep within STOP_BUDGET.
        """
        census, rng = self.census, self.rng
        overran: list[str] = []
        async with open_tree(self.spec, loop_block_threshold=None) as tree:
            with trio.move_on_after(600) as calls:
                async with trio.open_nursery() as nursery:
                    for _ in range(count):
                        nursery.start_soon(
                            call, tree, rng.choice(OPS), rng.choice(self.targets)
                        )
                        await trio.sleep(rng.choice((0, 0, 0, 0.01, 0.05, 0.2)))
            if calls.cancelled_caught:
                overran.append("calls still running 600 s after the last one")
            with trio.move_on_after(STOP_BUDGET) as stopping:
                await tree.stop()
            if stopping.cancelled_caught:
                overran.append(f"stop took over {STOP_BUDGET} s: live {census.live}")
                census.doomed.set()  # ghosts return, so the test ends
        assert [] == overran
        assert [] == census.dupes
        assert {} == census.live


TRANSIENT = Restart.TRANSIENT
# Stopping every child in reverse order, each cleanup under 0.3 s: 13 children
# at most (a, sub, x, y, b, pool, 4 dynamic, c, e0, e1), with room to spare.
STOP_BUDGET = 15.0


@pytest.mark.parametrize(
    ("seed", "strategy"),
    [(1, Strategy.ONE_FOR_ONE), (2, Strategy.REST_FOR_ONE), (3, Strategy.ONE_FOR_ALL)],
)
async def test_fuzz_racing_calls_in_code(
    autojump_clock: Any, seed: int, strategy: Strategy
) -> None:
    """
    3000 seeded random start/terminate/restart/delete/crash calls, overlapping,
    while children crash and start and stop slowly: never two copies of a name,
    every call returns, and the tree then stops within its budget.
    """
    fuzz = Fuzz(seed, strategy)
    await fuzz.run(3000, fuzz.in_code)


@pytest.mark.parametrize(
    ("seed", "strategy"), [(4, Strategy.REST_FOR_ONE), (5, Strategy.ONE_FOR_ALL)]
)
async def test_fuzz_racing_calls_over_http(
    autojump_clock: Any, seed: int, strategy: Strategy
) -> None:
    """
    400 seeded random calls, mostly through the ASGI app's POST /control (deletes
    and crashes in code): every answer is 200, 202 or a 4xx, within the bound;
    no ghost; the tree stops within its budget.
    """
    fuzz = Fuzz(seed, strategy)
    statuses: list[int] = []

    async def call(tree: Tree, op: str, target: str) -> None:
        if op in ("delete", "crash"):
            await fuzz.in_code(tree, op, target)
            return
        app = HealthApp(tree, token=TOKEN)
        parent = target.rpartition("/")[0]
        if op == "start" and parent == "root/pool":
            name = target.rpartition("/")[2]
            body = json.dumps({"args": [name], "name": name}).encode()
            status, _ = await asgi(app, "POST", f"/control/start/{parent}", body)
        else:
            status, _ = await asgi(app, "POST", f"/control/{op}/{target}")
        statuses.append(status)
        if op == "start" and status == 404 and target in fuzz.specs:
            await fuzz.in_code(tree, op, target)  # deleted: add it again, in code

    await fuzz.run(400, call)
    assert set(statuses) <= {200, 202, 404, 409}, sorted(set(statuses))
    assert 200 in statuses
