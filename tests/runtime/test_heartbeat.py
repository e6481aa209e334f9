"""
Heartbeats and the watchdog, under an autojump MockClock: exact virtual times.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import structlog
import trio
import trio.lowlevel
import trio.testing

import supervisor
import supervisor._runtime.hub
from supervisor import (
    Backoff,
    Child,
    HealthApp,
    Jitter,
    Reason,
    State,
    Supervisor,
    heartbeat,
    open_tree,
    testing,
)
from supervisor._runtime.watchdog import Watchdog
from tests.http.test_http_fuzz import call

EXACT = Backoff(initial=1, factor=2, max=8, jitter=Jitter.NONE)


def beating(
    log: list[tuple[str, float]],
    name: str,
    interval: float,
    stop_at: float | None = None,
) -> Any:
    """A child beating every *interval* s until *stop_at*; records start and end times."""

    async def child() -> None:
        log.append(("start", trio.current_time()))
        try:
            while stop_at is None or trio.current_time() < stop_at:
                heartbeat()
                await trio.sleep(interval)
            await trio.sleep_forever()
        finally:
            log.append(("end", trio.current_time()))

    return child


class TestHeartbeatTimeout:
    async def test_steady_beats_are_never_cancelled(self, autojump_clock: Any) -> None:
        """
        Beating every 1 s with a 3 s timeout: never cancelled over 1,000 virtual seconds.
        """
        log: list[tuple[str, float]] = []
        spec = Supervisor(
            name="root",
            children=[
                Child(name="c", target=beating(log, "c", 1), heartbeat_timeout=3)
            ],
        )
        async with open_tree(spec) as tree:
            await trio.sleep(1000)
            node = tree.snapshot().node("root/c")

            assert (0, State.RUNNING, 1) == (
                node.missed_heartbeats,
                node.state,
                node.starts,
            )

        assert [("start", 0), ("end", 1000)] == log

    async def test_silent_child_is_cancelled_exactly_at_the_timeout(
        self, autojump_clock: Any
    ) -> None:
        """
        A child whose last beat is at t=10 is cancelled at t=13 and restarted after its backoff.
        """
        log: list[tuple[str, float]] = []
        spec = Supervisor(
            name="root",
            backoff=EXACT,
            children=[
                Child(
                    name="c",
                    target=beating(log, "c", 1, stop_at=10.5),
                    heartbeat_timeout=3,
                )
            ],
        )
        with structlog.testing.capture_logs() as logs:
            async with open_tree(spec) as tree:
                await trio.sleep(14.5)
                node = tree.snapshot().node("root/c")

        # Beats at t = 0, 1, ..., 10; cancelled at 13; backoff 1 s: restarted at 14.
        assert [("start", 0), ("end", 13), ("start", 14)] == log[:3]
        assert 1 == node.missed_heartbeats
        assert node.last_exit is not None
        assert Reason.HEARTBEAT_TIMEOUT == node.last_exit.reason
        assert 13 == node.last_exit.time
        hung = [e for e in logs if e["event"] == "child_hung"]
        assert [3] == [e["last_beat_age"] for e in hung]
        crashed = [e for e in logs if e["event"] == "child_crashed"]
        assert ["heartbeat_timeout"] == [e["reason"] for e in crashed]

    async def test_first_beat_is_due_a_timeout_after_start(
        self, autojump_clock: Any
    ) -> None:
        """
        A child that never beats is cancelled heartbeat_timeout after it counted as started.
        """
        ends: list[float] = []

        async def ready_then_silent(
            task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
        ) -> None:
            await trio.sleep(2)
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                ends.append(trio.current_time())

        spec = Supervisor(
            name="root",
            backoff=Backoff(initial=100, max=100, jitter=Jitter.NONE),
            children=[Child(name="c", target=ready_then_silent, heartbeat_timeout=5)],
        )
        async with open_tree(spec):
            await trio.sleep(10)

        assert [7] == ends

    async def test_beats_from_a_grandchild_task_count(
        self, autojump_clock: Any
    ) -> None:
        """
        A task spawned by a task the child spawned beats for the child.
        """

        async def grandchild() -> None:
            while True:
                heartbeat()
                await trio.sleep(1)

        async def helper() -> None:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(grandchild)

        async def child() -> None:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(helper)

        spec = Supervisor(
            name="root", children=[Child(name="c", target=child, heartbeat_timeout=3)]
        )
        async with open_tree(spec) as tree:
            await trio.sleep(100)

            assert 0 == tree.snapshot().node("root/c").missed_heartbeats

    async def test_snapshot_shows_age_and_timeout(self, autojump_clock: Any) -> None:
        """
        The snapshot shows the age of the last beat, the timeout and the miss count.
        """
        log: list[tuple[str, float]] = []
        spec = Supervisor(
            name="root",
            children=[
                Child(name="c", target=beating(log, "c", 2), heartbeat_timeout=5),
                Child(name="plain", target=beating([], "p", 2)),
            ],
        )
        async with open_tree(spec) as tree:
            await trio.sleep(7)
            snap = tree.snapshot()

        c = snap.node("root/c")
        assert (5, 1, 0) == (c.heartbeat_timeout, c.heartbeat_age, c.missed_heartbeats)
        plain = snap.node("root/plain")
        assert (None, None) == (plain.heartbeat_timeout, plain.heartbeat_age)
        assert 1 == snap.as_dict()["root"]["children"][0]["heartbeat_age"]

    async def test_heartbeat_outside_a_child_is_an_error(self) -> None:
        """
        heartbeat() outside a supervised child raises NotInChild with advice.
        """
        with pytest.raises(supervisor.NotInChild, match="inside a supervised child"):
            heartbeat()

    async def test_a_thousand_children_with_random_hangs(
        self, autojump_clock: Any
    ) -> None:
        """
        1,000 children, a random 10% hang at random times: each hung child is
        cancelled exactly one timeout after its last beat; no live child ever is.
        """
        rng = random.Random(42)
        # Phases and hang times on a 0.1 s grid: as random for the watchdog, and
        # the MockClock then has ten wake-ups per second to jump to, not a thousand.
        hang_at = {i: rng.randrange(50, 400) / 10 for i in rng.sample(range(1000), 100)}
        interval, timeout = 1.0, 3.0
        last_beat: dict[int, float] = {}
        cancelled: dict[int, float] = {}

        def worker(i: int) -> Any:
            async def child() -> None:
                offset = rng.randrange(10) / 10
                await trio.sleep(offset)
                try:
                    while i not in hang_at or trio.current_time() < hang_at[i]:
                        heartbeat()
                        last_beat[i] = trio.current_time()
                        await trio.sleep(interval)
                    await trio.sleep_forever()
                except trio.Cancelled:
                    cancelled.setdefault(i, trio.current_time())
                    raise

            return child

        spec = Supervisor(
            name="root",
            intensity=1000,
            backoff=Backoff(initial=1000, max=1000, jitter=Jitter.NONE),
            children=[
                Child(name=f"w{i}", target=worker(i), heartbeat_timeout=timeout)
                for i in range(1000)
            ],
        )
        async with open_tree(spec) as tree:
            await trio.sleep(50)
            snap = tree.snapshot()

        hung = {int(n.name[1:]) for n in snap.root.children if n.missed_heartbeats}
        assert set(hang_at) == hung
        assert set(hang_at) <= set(cancelled)
        for i in hang_at:
            assert last_beat[i] + timeout == cancelled[i]
        # Only the stop at the end (t=50) cancelled the live children.
        assert {50.0} == {t for i, t in cancelled.items() if i not in hang_at}


class TestSwallowedCancellation:
    """
    A child the watchdog cancels is judged by why it was cancelled, not by what
    it does next: it may swallow the cancellation, return, raise or go on.
    """

    @staticmethod
    def swallower(then: str, keeps_going: float = 0, *, in_start: bool = False) -> Any:
        """
        Hangs in its first run (*in_start*: before it calls started()); once
        cancelled, goes on for *keeps_going* s, then returns or raises (*then*).
        """
        runs = 0

        async def child(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            nonlocal runs
            runs += 1
            if runs > 1 or not in_start:
                task_status.started()
            if runs > 1:
                await testing.beat_every(0.5)()
            try:
                await trio.sleep_forever()  # no beat (or no started()): hung
            except trio.Cancelled:
                with trio.CancelScope(shield=True):  # deaf to the cancellation
                    await trio.sleep(keeps_going)
                if then == "raises":
                    raise ValueError("cleanup failed") from None
            # then == "returns": the cancellation is swallowed

        return child

    @pytest.mark.parametrize("then", ["returns", "raises"])
    async def test_hung_transient_child_is_restarted_whatever_it_does(
        self, autojump_clock: Any, then: str
    ) -> None:
        """
        Hung at t=1, it swallows the cancel and returns (or raises): the exit is
        heartbeat_timeout, counted, and a TRANSIENT child is restarted at t=2.
        """
        spec = Supervisor(
            name="root",
            backoff=EXACT,
            children=[
                Child(
                    name="c",
                    target=self.swallower(then),
                    restart=supervisor.Restart.TRANSIENT,
                    heartbeat_timeout=1,
                )
            ],
        )
        with structlog.testing.capture_logs() as logs:
            async with open_tree(spec) as tree:
                await trio.sleep(3)
                snap = tree.snapshot()
        node = snap.node("root/c")

        assert node.last_exit is not None
        assert (State.RUNNING, 2, 1, Reason.HEARTBEAT_TIMEOUT, 1.0) == (
            node.state,
            node.starts,
            node.restarts,
            node.last_exit.reason,
            node.last_exit.time,
        )
        assert (("heartbeat_timeout", 1),) == node.restarts_by_reason
        assert (("heartbeat_timeout", 1),) == snap.crashes
        crashed = [e for e in logs if e["event"] == "child_crashed"]
        assert ["heartbeat_timeout"] == [e["reason"] for e in crashed]
        if then == "raises":  # the exception is kept as evidence
            assert ("builtins.ValueError", "cleanup failed") == (
                node.last_exit.exc_type,
                node.last_exit.exc_message,
            )

    async def test_swallowed_start_timeout_stays_a_start_timeout(
        self, autojump_clock: Any
    ) -> None:
        """
        A child that swallows its start timeout's cancellation and returns has
        failed its start (start_timeout), and a TRANSIENT one is retried.
        """
        spec = Supervisor(
            name="root",
            backoff=EXACT,
            children=[
                Child(
                    name="c",
                    target=self.swallower("returns", in_start=True),
                    restart=supervisor.Restart.TRANSIENT,
                    start_timeout=2,
                )
            ],
        )
        async with open_tree(spec) as tree:
            await trio.sleep(1)
            node = tree.snapshot().node("root/c")

        assert node.last_exit is not None
        assert (State.RUNNING, 1, 1, Reason.START_TIMEOUT, 2.0) == (
            node.state,
            node.starts,
            node.restarts,
            node.last_exit.reason,
            node.last_exit.time,
        )

    async def test_hung_child_outliving_its_cancel_is_unstopped_and_not_alive(
        self, autojump_clock: Any
    ) -> None:
        """
        Hung at t=1 and deaf to the cancel for 10 s: stopping at once, unstopped
        past its 2 s shutdown bound (event with the reason; /livez and /readyz
        fail), and once it returns at t=11, a heartbeat_timeout restarted at t=12.
        """
        spec = Supervisor(
            name="root",
            backoff=EXACT,
            children=[
                Child(
                    name="c",
                    target=self.swallower("returns", keeps_going=10),
                    heartbeat_timeout=1,
                    shutdown=2,
                )
            ],
        )
        seen: dict[float, Any] = {}
        with structlog.testing.capture_logs() as logs:
            async with open_tree(spec) as tree:
                app = HealthApp(tree)
                for at in (2, 4, 13):
                    await trio.sleep_until(at)
                    livez, _ = await call(app, _get("/livez"))
                    readyz, _ = await call(app, _get("/readyz"))
                    seen[at] = (
                        tree.snapshot().node("root/c").state,
                        tree.observer.facts(fresh=True).unstopped,
                        livez,
                        readyz,
                    )
                node = tree.snapshot().node("root/c")

        assert {
            2: (State.STOPPING, [], 200, 503),
            4: (State.UNSTOPPED, ["root/c"], 503, 503),
            13: (State.RUNNING, [], 200, 200),
        } == seen
        assert node.last_exit is not None
        assert (2, Reason.HEARTBEAT_TIMEOUT, 11.0) == (
            node.starts,
            node.last_exit.reason,
            node.last_exit.time,
        )
        unstopped = [e for e in logs if e["event"] == "child_unstopped"]
        assert [
            {
                "event": "child_unstopped",
                "path": "root/c",
                "shutdown": 2,
                "reason": "heartbeat_timeout",
                "log_level": "error",
            }
        ] == unstopped

    async def test_stop_of_an_unstopped_hung_child_keeps_its_state_and_reason(
        self, autojump_clock: Any
    ) -> None:
        """
        A stop of the tree while a hung child is unstopped leaves it unstopped
        (its bound is over) and waits; its exit stays a heartbeat_timeout.
        """
        spec = Supervisor(
            name="root",
            children=[
                Child(
                    name="c",
                    target=self.swallower("returns", keeps_going=10),
                    heartbeat_timeout=1,
                    shutdown=2,
                )
            ],
        )
        async with open_tree(spec) as tree:
            await trio.sleep(4)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(tree.stop)
                await trio.sleep(1)
                during = tree.snapshot().node("root/c").state
            ended = trio.current_time()
            node = tree.snapshot().node("root/c")

        assert (State.UNSTOPPED, 11) == (during, ended)
        assert node.last_exit is not None
        assert (State.STOPPED, Reason.HEARTBEAT_TIMEOUT) == (
            node.state,
            node.last_exit.reason,
        )


def _get(path: str) -> dict[str, Any]:
    return {"method": "GET", "path": path, "query": b"", "headers": [], "body": b""}


class TestTestingHelpers:
    def test_run_with_injected_hang_and_crash(self) -> None:
        """
        supervisor.testing.run drives a tree under a MockClock; hang() and crash() inject faults.
        """
        spec = Supervisor(
            name="app",
            intensity=10,
            backoff=EXACT,
            children=[
                Child(name="poller", target=testing.beat_every(1), heartbeat_timeout=5),
                Child(name="worker", target=testing.beat_every(1)),
            ],
        )

        async def scenario(tree: supervisor.Tree) -> None:
            await trio.sleep(10.5)
            testing.hang(tree, "app/poller")  # last beat at 10: cancelled at 15
            testing.crash(tree, "app/worker", ConnectionError("lost"))
            await trio.sleep(5)

        snap = testing.run(spec, scenario, duration=1)
        poller, worker = snap.node("app/poller"), snap.node("app/worker")

        assert (1, 15) == (
            poller.missed_heartbeats,
            poller.last_exit.time if poller.last_exit else None,
        )
        assert 16 == poller.started_at  # restarted after 1 s of backoff
        assert worker.last_exit is not None
        assert ("crash", "builtins.ConnectionError", "lost") == (
            worker.last_exit.reason,
            worker.last_exit.exc_type,
            worker.last_exit.exc_message,
        )
        assert 16.5 == snap.time

    def test_scripted_children(self) -> None:
        """
        beat_every(hang_at=) hangs by itself; crash_after() crashes on schedule.
        """
        spec = Supervisor(
            name="app",
            intensity=10,
            backoff=Backoff(initial=100, max=100, jitter=Jitter.NONE),
            children=[
                Child(
                    name="h",
                    target=testing.beat_every(1, hang_at=4),
                    heartbeat_timeout=2,
                ),
                Child(name="c", target=testing.crash_after(3)),
            ],
        )
        snap = testing.run(spec, duration=10)

        assert 5 == snap.node("app/h").last_exit.time  # type: ignore[union-attr]
        assert "crashed after 3 s" == snap.node("app/c").last_exit.exc_message  # type: ignore[union-attr]

    async def test_bad_injections_are_refused(self, autojump_clock: Any) -> None:
        """
        hang() needs a heartbeat_timeout; both need a running child at a real path.
        """
        spec = Supervisor(
            name="app", children=[Child(name="w", target=testing.beat_every(1))]
        )
        async with open_tree(spec) as tree:
            with pytest.raises(supervisor.NotSupported, match="no heartbeat_timeout"):
                testing.hang(tree, "app/w")
            with pytest.raises(supervisor.ChildLookupError):
                testing.crash(tree, "app/nope")
            await tree.terminate_child("app/w")
            with pytest.raises(supervisor.ChildRunning, match="not running"):
                testing.crash(tree, "app/w")


class TestWatchdogBounds:
    async def test_crash_loop_does_not_grow_the_timer_heap(
        self, autojump_clock: Any
    ) -> None:
        """
        Timers of ended incarnations are pruned: a crash loop of watched children
        leaves the heap at the size of what is live.
        """
        count = 0

        async def short_lived() -> None:
            nonlocal count
            count += 1
            if count > 5000:
                await trio.sleep_forever()
            raise RuntimeError("boom")

        spec = Supervisor(
            name="root",
            intensity=10**6,
            backoff=Backoff(initial=0),
            children=[Child(name="c", target=short_lived, heartbeat_timeout=60)],
        )
        async with open_tree(spec) as tree:
            await trio.testing.wait_all_tasks_blocked()
            watchdog = tree._hub.watchdog

            assert 1 == watchdog.pending
            assert len(watchdog._heap) < 2100  # pruned each time dead > live and > 1024


def stalling(clock: trio.testing.MockClock, at: float, seconds: float) -> Any:
    """
    A child that blocks the loop for *seconds* at *at*: the MockClock jumps
    inside one task step, as the real clock moves during a ``time.sleep``.
    """

    async def child() -> None:
        await trio.sleep_until(at)
        clock.jump(seconds)
        await trio.sleep_forever()

    return child


class TestLoopStalls:
    """
    Time during which the loop could not run does not count against any timer.

    Under a MockClock a jump is time passing (trio's meaning), so the tree
    detects no stalls; these tests turn detection on and jump inside a task
    step, as the real clock moves during a ``time.sleep`` on the trio thread.
    """

    @pytest.fixture(autouse=True)
    def _detect_stalls(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(
            supervisor._runtime.hub, "detects_stalls", lambda clock: True
        )

    async def test_beating_children_survive_a_stall_longer_than_their_timeout(
        self, autojump_clock: trio.testing.MockClock
    ) -> None:
        """
        20 children beating every 0.1 s (timeout 1 s) and a 1.5 s stall: none is
        declared hung. Each beats one step after its sleep ends, so trio's random
        batch order cannot hide a watchdog that judges before the children ran.
        """

        async def worker() -> None:
            while True:
                heartbeat()
                await trio.sleep(0.1)
                await trio.lowlevel.checkpoint()

        spec = Supervisor(
            name="root",
            children=[
                *(
                    Child(name=f"w{i}", target=worker, heartbeat_timeout=1)
                    for i in range(20)
                ),
                Child(name="stall", target=stalling(autojump_clock, 0.55, 1.5)),
            ],
        )
        with structlog.testing.capture_logs() as logs:
            async with open_tree(spec) as tree:
                await trio.sleep(10)
                snap = tree.snapshot()
                watchdog = tree._hub.watchdog

        assert [] == [e for e in logs if e["event"] == "child_hung"]
        assert {1} == {snap.node(f"root/w{i}").starts for i in range(20)}
        # Measured to within a tick of the watchdog (0.1 s) below its real length.
        assert 1 == watchdog.stalls
        assert 1.4 <= watchdog.stalled <= 1.5

    async def test_a_hung_child_is_found_with_the_stall_not_counted(
        self, autojump_clock: trio.testing.MockClock
    ) -> None:
        """
        A child that never beats (timeout 1 s, started at 0) and a 2 s stall at
        0.5: it is cancelled once 1 s of loop time has passed, at 3.0 (to within
        the watchdog's 0.1 s tick), not as soon as the loop runs again at 2.5.
        """
        spec = Supervisor(
            name="root",
            backoff=Backoff(initial=100, max=100, jitter=Jitter.NONE),
            children=[
                Child(name="stall", target=stalling(autojump_clock, 0.5, 2.0)),
                Child(name="h", target=trio.sleep_forever, heartbeat_timeout=1),
            ],
        )
        async with open_tree(spec) as tree:
            await trio.sleep_until(2.85)
            before = tree.snapshot().node("root/h")
            await trio.sleep_until(3.05)
            after = tree.snapshot().node("root/h")

        assert (0, State.RUNNING) == (before.missed_heartbeats, before.state)
        assert 1 == after.missed_heartbeats
        assert after.last_exit is not None
        assert Reason.HEARTBEAT_TIMEOUT == after.last_exit.reason
        assert 2.9 <= after.last_exit.time <= 3.0

    async def test_a_stall_does_not_count_against_a_start_timeout(
        self, autojump_clock: trio.testing.MockClock
    ) -> None:
        """
        A start needing 0.95 s of loop time (start_timeout 1 s) with a 1.5 s stall
        in the middle: it starts, at 2.05 (its sleeps end at 2.0, then 0.05 s).
        """

        async def slow_start(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            await trio.sleep(0.9)  # ends during the stall
            await trio.sleep(0.05)  # needs the loop once more
            task_status.started()
            await trio.sleep_forever()

        spec = Supervisor(
            name="root",
            children=[
                Child(name="stall", target=stalling(autojump_clock, 0.5, 1.5)),
                Child(name="s", target=slow_start, start_timeout=1),
            ],
        )
        with structlog.testing.capture_logs() as logs:
            async with open_tree(spec) as tree:
                await trio.sleep(5)
                node = tree.snapshot().node("root/s")

        assert (State.RUNNING, 1, None) == (node.state, node.starts, node.last_exit)
        assert 2.05 == pytest.approx(node.started_at)
        assert [] == [e for e in logs if e["event"] == "child_crashed"]

    async def test_a_stall_does_not_count_against_a_stop_bound(
        self, autojump_clock: trio.testing.MockClock
    ) -> None:
        """
        A cleanup needing 0.6 s of loop time (shutdown 1 s) with a 1.5 s stall in
        the middle of it: the child stops, and is never reported unstopped.
        """

        async def slow_cleanup() -> None:
            try:
                await trio.sleep_forever()
            finally:
                with trio.CancelScope(shield=True):
                    await trio.sleep(0.3)
                    autojump_clock.jump(1.5)
                    await trio.sleep(0.3)

        spec = Supervisor(
            name="root", children=[Child(name="c", target=slow_cleanup, shutdown=1)]
        )
        with structlog.testing.capture_logs() as logs:
            async with open_tree(spec) as tree:
                await trio.sleep(1)
                await tree.terminate_child("root/c")
                node = tree.snapshot().node("root/c")

        assert [] == [e for e in logs if e["event"] == "child_unstopped"]
        assert node.last_exit is not None
        # Stopped at 1; 0.3 + 1.5 (the stall) + 0.3 later it has cleaned up.
        assert (State.STOPPED, 3.1) == (node.state, pytest.approx(node.last_exit.time))


class TestBeatsOutliveNothing:
    """A beat counts only while the incarnation it belongs to runs."""

    async def test_a_task_left_in_an_outside_nursery_cannot_beat_on(
        self, autojump_clock: Any
    ) -> None:
        """
        A child spawns a beater into a nursery it does not own and returns at
        0.55: the beater's beats count until then; its next one raises
        NotInChild naming the child. The next incarnation, which never beats,
        is found hung at its own timeout: the old task keeps nothing alive.
        """
        beats: list[float] = []
        errors: list[tuple[float, str]] = []
        incarnations: list[float] = []

        async def beater() -> None:
            try:
                while trio.current_time() < 5:  # bounded: the test fails, never hangs
                    heartbeat()
                    beats.append(trio.current_time())
                    await trio.sleep(0.1)
            except supervisor.NotInChild as exc:
                errors.append((trio.current_time(), str(exc)))

        async with trio.open_nursery() as outside:

            async def child() -> None:
                incarnations.append(trio.current_time())
                if len(incarnations) == 1:
                    outside.start_soon(beater)
                    await trio.sleep(0.55)
                    return
                await trio.sleep_forever()

            spec = Supervisor(
                name="root",
                backoff=EXACT,
                children=[
                    Child(
                        name="c",
                        target=child,
                        restart=supervisor.Restart.PERMANENT,
                        heartbeat_timeout=1,
                    )
                ],
            )
            async with open_tree(spec) as tree:
                await trio.sleep(3)
                node = tree.snapshot().node("root/c")

        assert [0.0, 0.1, 0.2, 0.3, 0.4, 0.5] == pytest.approx(beats)
        assert 1 == len(errors)
        assert 0.6 == pytest.approx(errors[0][0])
        assert "root/c's incarnation has ended" in errors[0][1]
        # Returned at 0.55, restarted after 1 s, hung 1 s later at 2.55.
        assert [0.0, 1.55] == pytest.approx(incarnations)
        assert 1 == node.missed_heartbeats

    async def test_stop_requested_from_a_task_that_outlived_its_child(
        self, autojump_clock: Any
    ) -> None:
        """
        stop_requested() from such a task is NotInChild too, not a stale event
        or a misleading NotSupported.
        """
        outcome: list[BaseException | trio.Event] = []
        done = trio.Event()

        async def late_asker(task_status: Any) -> None:
            task_status.started()
            await trio.sleep(1)
            try:
                outcome.append(supervisor.stop_requested())
            except Exception as exc:  # the outcome is the point
                outcome.append(exc)
            done.set()

        async with trio.open_nursery() as outside:

            async def child() -> None:
                assert not supervisor.stop_requested().is_set()  # in the child: fine
                await outside.start(late_asker)

            spec = Supervisor(
                name="root",
                children=[
                    Child(
                        name="g",
                        target=child,
                        graceful_stop=True,
                        restart=supervisor.Restart.TEMPORARY,
                    )
                ],
            )
            async with open_tree(spec):
                await done.wait()

        assert 1 == len(outcome)
        assert isinstance(outcome[0], supervisor.NotInChild)
        assert "root/g's incarnation has ended" in str(outcome[0])


class TestWatchdogStallCredit:
    """The timer heap's stall logic alone, under an autojump MockClock."""

    async def test_timers_set_before_a_stall_are_postponed_by_it_once(
        self, autojump_clock: trio.testing.MockClock
    ) -> None:
        """
        Timers due at 1.0 and 5.0, set at 0; a 1.0 s stall at 0.55: the
        watchdog last ran at 0.5 (its 0.1 s tick), wakes at 1.55 instead of
        0.6, credits 0.95 s, and both fire 0.95 s late. A timer set after the
        stall is not postponed, nor is the first one's next period.
        """
        watchdog = Watchdog(trio.current_time, detect_stalls=True)
        fired: list[tuple[str, float]] = []

        def record(name: str, now: float) -> float | None:
            fired.append((name, now))
            return now + 1 if name == "early" and len(fired) == 1 else None

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watchdog.run)
            await trio.lowlevel.checkpoint()
            watchdog.call_at(1.0, record, "early")
            watchdog.call_at(5.0, record, "late")
            await trio.sleep_until(0.55)
            autojump_clock.jump(1.0)  # the loop cannot run: no await in between
            watchdog.call_at(2.0, record, "after")
            await trio.sleep_until(10)
            watchdog.stop()

        assert (1, pytest.approx(0.95)) == (watchdog.stalls, watchdog.stalled)
        assert [
            ("early", 1.95),
            ("after", 2.0),
            ("early", 2.95),
            ("late", 5.95),
        ] == [(name, pytest.approx(at)) for name, at in fired]

    async def test_wakes_on_time_are_no_stall(self, autojump_clock: Any) -> None:
        """
        Without a stall nothing moves: timers fire at their exact times.
        """
        watchdog = Watchdog(trio.current_time, detect_stalls=True)
        fired: list[float] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watchdog.run)
            await trio.lowlevel.checkpoint()
            for at in (0.05, 0.25, 3.0):
                watchdog.call_at(at, lambda _, now: fired.append(now), None)
            await trio.sleep(5)
            watchdog.stop()
        assert ([0.05, 0.25, 3.0], 0) == (fired, watchdog.stalls)

    async def test_under_a_mock_clock_a_jump_is_time_passing(
        self, autojump_clock: trio.testing.MockClock
    ) -> None:
        """
        A test that jumps a MockClock past a heartbeat timeout sees the child
        found hung at once: trio's meaning of jump(), not a blocked loop.
        """
        spec = Supervisor(
            name="root",
            backoff=Backoff(initial=100, max=100, jitter=Jitter.NONE),
            children=[Child(name="h", target=trio.sleep_forever, heartbeat_timeout=30)],
        )
        async with open_tree(spec) as tree:
            autojump_clock.jump(31)
            await trio.sleep(0.001)
            node = tree.snapshot().node("root/h")
            assert (0, 0.0) == (tree._hub.watchdog.stalls, tree._hub.watchdog.stalled)

        assert 1 == node.missed_heartbeats
