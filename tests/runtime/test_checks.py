"""
Check semantics (Kubernetes thresholds) under a MockClock, and the built-in
checks against real sockets and this very process.
"""

from __future__ import annotations

from typing import Any

import pytest
import structlog
import structlog.testing
import trio
import trio.testing

import supervisor
import supervisor._runtime.checks
from supervisor import Check, Child, Feeds, Supervisor, checks, open_tree
from supervisor._checks import CheckFailed, CheckState, Observation


class Flaky:
    """A check whose outcome the test sets."""

    def __init__(self) -> None:
        self.fail = False
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.fail:
            raise ConnectionError("down")


async def test_thresholds_follow_kubernetes_probe_semantics(
    autojump_clock: Any,
) -> None:
    """
    Failing after failure_threshold consecutive failures, passing after success_threshold
    consecutive successes; results are cached between runs.
    """
    flaky = Flaky()
    check = Check(
        name="db", fn=flaky, interval=10, failure_threshold=3, success_threshold=2
    )
    spec = Supervisor(name="app", children=[Child(name="w", target=trio.sleep_forever)])
    async with open_tree(spec, checks=[check], loop_block_threshold=None) as tree:
        state = tree.observer.checks()[0]
        await trio.testing.wait_all_tasks_blocked()
        seen = [(state.up, state.status)]  # one success of the two needed
        await trio.sleep(15)  # reads fall between runs (at 0, 10, 20, ...)
        seen.append((state.up, state.status))
        flaky.fail = True
        for _ in range(3):
            await trio.sleep(10)
            seen.append((state.up, state.status))
        flaky.fail = False
        for _ in range(2):
            await trio.sleep(10)
            seen.append((state.up, state.status))

    assert [
        (None, "fail"),  # unknown until success_threshold successes
        (True, "pass"),
        (True, "warn"),  # one failure: still up, flagged
        (True, "warn"),
        (False, "fail"),  # third consecutive failure
        (False, "fail"),  # one success is not enough
        (True, "pass"),
    ] == seen
    assert 7 == flaky.calls


async def test_a_hanging_check_times_out(autojump_clock: Any) -> None:
    """
    A check that does not answer within its timeout counts as a failure.
    """

    async def hangs() -> None:
        await trio.sleep_forever()

    state = CheckState(
        check=Check(name="slow", fn=hangs, timeout=2, failure_threshold=1)
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            supervisor._runtime.checks.run_check, state, trio.current_time
        )
        await trio.sleep(2.5)
        nursery.cancel_scope.cancel()

    assert (False, "TimeoutError: no answer within 2 s") == (state.up, state.last_error)


async def test_tcp_and_http_checks_against_a_live_server() -> None:
    """
    tcp() and http() pass against the tree's own HTTP port and fail against a closed one.
    """
    spec = Supervisor(name="app", children=[Child(name="w", target=trio.sleep_forever)])
    async with open_tree(spec, http="127.0.0.1:0") as tree:
        host, port = tree.http_addresses[0].rsplit(":", 1)
        await checks.tcp(host, int(port))()
        observed = await checks.http(f"http://{host}:{port}/livez")()
        with pytest.raises(checks.CheckFailed, match="answered 404"):
            await checks.http(f"http://{host}:{port}/nope")()
    with pytest.raises(OSError, match="connect"):
        await checks.tcp(host, int(port))()

    assert observed is not None
    assert "s" == observed.unit


async def test_resource_checks_warn_and_fail() -> None:
    """
    memory(), open_files() and tasks() report observed values against their thresholds.
    """
    rss = await checks.memory(warn_bytes=1)()
    assert rss is not None
    assert (True, "bytes") == (rss.warn, rss.unit)
    with pytest.raises(checks.CheckFailed) as failed:
        await checks.memory(fail_bytes=1)()
    assert failed.value.value is not None

    fds = await checks.open_files(warn=10_000)()
    assert fds is not None
    assert fds.value is not None
    assert (False, "descriptors") == (fds.warn, fds.unit)

    live = await checks.tasks(fail=100_000)()
    assert live is not None
    assert live.value is not None
    assert live.value >= 1
    with pytest.raises(checks.CheckFailed, match="live tasks"):
        await checks.tasks(fail=1)()


def test_check_specs_are_validated() -> None:
    """
    A check with a sync function or a bad threshold is refused at construction.
    """

    def sync() -> None:
        return None

    with pytest.raises(supervisor.SpecError, match="fn must be an async callable"):
        Check(name="x", fn=sync)  # type: ignore[arg-type]
    with pytest.raises(supervisor.SpecError, match="failure_threshold"):
        Check(name="x", fn=Flaky(), failure_threshold=0)
    with pytest.raises(supervisor.SpecError, match="success_threshold must be an int"):
        Check(name="x", fn=Flaky(), success_threshold=2.5)  # type: ignore[arg-type]
    assert Feeds.READINESS == Check(name="x", fn=Flaky()).feeds


# ---- issue 9: bad results, swallowed timeouts, events -----------------------


def alive_tree() -> Supervisor:
    return Supervisor(name="app", children=[Child(name="w", target=trio.sleep_forever)])


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        (True, "returned True; return None or an Observation"),
        ("ok", "returned a str; return None or an Observation"),
        (
            checks.Observation(value="3"),  # type: ignore[arg-type]
            "returned an Observation whose value is a str; value must be a finite number or None",
        ),
        (
            checks.Observation(value=float("nan")),
            "returned an Observation whose value is nan; value must be a finite number or None",
        ),
        (
            checks.Observation(value=float("inf")),
            "returned an Observation whose value is inf; value must be a finite number or None",
        ),
        (
            checks.Observation(value=1.0, unit=5),  # type: ignore[arg-type]
            "returned an Observation whose unit is 5; unit must be a str or None",
        ),
    ],
)
async def test_a_bad_check_result_is_a_failed_check(
    autojump_clock: Any, result: object, problem: str
) -> None:
    """
    A check returning anything but None or a valid Observation fails with an error
    naming the check; its runner does not crash and the tree runs on (it used to
    be cancelled within 3 s, when the runner's crash loop made _system give up).
    """

    async def bad() -> Any:
        return result

    check = Check(name="db", fn=bad, interval=0.1, failure_threshold=1)
    async with open_tree(
        alive_tree(), checks=[check], loop_block_threshold=None
    ) as tree:
        await trio.sleep(60)
        state = tree.observer.checks()[0]
        snap = tree.snapshot()

    assert (False, f"BadCheckResult: check db {problem}") == (
        state.up,
        state.last_error,
    )
    assert "running" == snap.root.state
    runner = snap.node("_system/check:db")
    assert ("running", 0) == (runner.state, runner.restarts)


async def test_a_bad_check_failed_value_is_dropped(autojump_clock: Any) -> None:
    """
    CheckFailed carrying a value that is not a finite number fails the check
    without an observed value (it used to crash the runner).
    """

    async def bad() -> None:
        raise checks.CheckFailed("too high", value="3", unit=5)  # type: ignore[arg-type]

    state = CheckState(check=Check(name="db", fn=bad, failure_threshold=1))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            supervisor._runtime.checks.run_check, state, trio.current_time
        )
        await trio.sleep(1)
        nursery.cancel_scope.cancel()

    assert (False, "CheckFailed: too high", None, None) == (
        state.up,
        state.last_error,
        state.observed_value,
        state.observed_unit,
    )


async def test_the_system_node_never_stops_the_users_tree(
    autojump_clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    A part of the tree's own machinery that keeps crashing (here a check runner
    whose recording fails) is restarted with backoff forever, each crash logged
    and counted, and visible in the snapshot's system node; it never escalates
    into the user's root, and it is in no readiness verdict.
    """

    def broken(*args: Any) -> bool:
        raise RuntimeError("internal bug")

    monkeypatch.setattr(CheckState, "record", broken)
    check = Check(name="db", fn=Flaky(), interval=1)
    with structlog.testing.capture_logs() as logs:
        async with open_tree(
            alive_tree(), checks=[check], loop_block_threshold=None
        ) as tree:
            await trio.sleep(600)  # 20 times the period in which _system gave up
            snap = tree.snapshot()
            laggards = tree.observer.facts(fresh=True).laggards

    crashes = [
        e
        for e in logs
        if e["event"] == "child_crashed" and e.get("path") == "_system/check:db"
    ]
    assert "running" == snap.root.state
    assert snap.system is not None
    runner = snap.node("_system/check:db")
    assert runner.restarts >= 100
    assert len(crashes) >= runner.restarts
    assert "builtins.RuntimeError" == crashes[-1]["exc_type"]
    assert not any(e["event"] == "intensity_exceeded" for e in logs)
    assert [] == laggards  # _system children never make the user's tree unready


class Stubborn:
    """A check function that outlives its cancellation until released."""

    def __init__(self, *, shielded: bool) -> None:
        self.shielded = shielded
        self.calls = 0
        self.release = trio.Event()

    async def __call__(self) -> None:
        self.calls += 1
        if self.shielded:
            with trio.CancelScope(shield=True):
                await self.release.wait()
            return
        try:
            await trio.sleep(100)
        except trio.Cancelled:
            return  # swallowed: "passes" after its timeout


async def test_a_check_that_swallows_its_cancellation_fails_at_its_timeout(
    autojump_clock: Any,
) -> None:
    """
    A check fn that catches its timeout's Cancelled and returns fails at the
    timeout like any other hanging check; it used to report pass forever.
    """
    fn = Stubborn(shielded=False)
    check = Check(
        name="slow",
        fn=fn,
        feeds=Feeds.LIVENESS,
        interval=5,
        timeout=1,
        failure_threshold=1,
    )
    async with open_tree(
        alive_tree(), checks=[check], loop_block_threshold=None
    ) as tree:
        state = tree.observer.checks()[0]
        await trio.sleep(1.5)
        first = (state.status, state.last_error)
        await trio.sleep(12)  # two more runs, each swallowing its cancellation

    assert ("fail", "TimeoutError: no answer within 1 s") == first
    assert (3, 3) == (fn.calls, state.consecutive_failures)


async def test_a_check_that_ignores_cancellation_is_failing_reported_and_unstopped(
    autojump_clock: Any,
) -> None:
    """
    A shielded check fn: the verdict turns failing at its timeout without waiting
    for it; it is not called again while it runs, every interval it still runs
    is one more failure, and it is reported once (check_unstopped). At stop its
    runner is reported unstopped past its shutdown bound, like any child that
    ignores cancellation; once it ends, the tree stops.
    """
    fn = Stubborn(shielded=True)
    check = Check(
        name="slow",
        fn=fn,
        feeds=Feeds.LIVENESS,
        interval=5,
        timeout=1,
        failure_threshold=1,
    )
    with structlog.testing.capture_logs() as logs:
        async with open_tree(
            alive_tree(), checks=[check], loop_block_threshold=None
        ) as tree:
            try:
                state = tree.observer.checks()[0]
                await trio.sleep(1.5)
                at_timeout = state.status
                await trio.sleep(20)  # ticks at 6, 11, 16, 21
                running = (fn.calls, state.consecutive_failures, state.status)
                tree.request_stop()
                await trio.sleep(10)  # past the runner's 5 s shutdown bound
                stopping = tree.snapshot().node("_system/check:slow").state
            finally:
                fn.release.set()  # else the tree could never stop

    unstopped = [e for e in logs if e["event"] == "check_unstopped"]
    assert "fail" == at_timeout
    assert (1, 5, "fail") == running
    assert "unstopped" == stopping
    assert [("slow", 1)] == [(e["check"], e["timeout"]) for e in unstopped]
    assert any(
        e["event"] == "child_unstopped" and e["path"] == "_system/check:slow"
        for e in logs
    )


async def test_check_failed_and_recovered_events(autojump_clock: Any) -> None:
    """
    check_failed when a check turns failing (at its threshold, not before), with
    its consecutive failures and error text; check_recovered when it passes again.
    """
    flaky = Flaky()
    check = Check(name="db", fn=flaky, interval=10, failure_threshold=2)
    with structlog.testing.capture_logs() as logs:
        async with open_tree(
            alive_tree(), checks=[check], loop_block_threshold=None
        ) as tree:
            await trio.sleep(5)  # passed once
            flaky.fail = True
            await trio.sleep(10)  # one failure: below the threshold
            below = [e["event"] for e in logs if e["event"].startswith("check_")]
            await trio.sleep(20)  # second and third failure
            flaky.fail = False
            await trio.sleep(10)
            assert tree.observer.checks()[0].up

    events = [e for e in logs if e["event"].startswith("check_")]
    assert [] == below
    assert [
        {
            "event": "check_failed",
            "check": "db",
            "feeds": "readiness",
            "consecutive_failures": 2,
            "error": "ConnectionError: down",
            "log_level": "warning",
        },
        {
            "event": "check_recovered",
            "check": "db",
            "feeds": "readiness",
            "consecutive_successes": 1,
            "log_level": "info",
        },
    ] == events


async def test_the_system_node_stops_last_also_when_cancelled_from_outside(
    autojump_clock: Any,
) -> None:
    """
    Cancelled from outside, the tree stops the user's children first and its own
    machinery (check runners, HTTP) last, with every stop still bounded: an
    unstoppable child of the user's root is reported unstopped.
    """

    async def stubborn() -> None:
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await trio.sleep(30)

    spec = Supervisor(
        name="app",
        children=[
            Child(name="w", target=trio.sleep_forever),
            Child(name="s", target=stubborn, shutdown=1),
        ],
    )
    check = Check(name="db", fn=Flaky(), interval=1)
    with structlog.testing.capture_logs() as logs:
        with trio.move_on_after(5):
            async with open_tree(spec, checks=[check], loop_block_threshold=None):
                await trio.sleep_forever()

    order = [
        (e["event"], e["path"])
        for e in logs
        if e["event"] in ("child_stopped", "child_unstopped")
    ]
    assert [
        ("child_unstopped", "app/s"),
        ("child_stopped", "app/s"),
        ("child_stopped", "app/w"),
        ("child_stopped", "_system/check:db"),
    ] == order


async def test_a_system_part_that_never_comes_up_fails_the_run_before_the_root(
    autojump_clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    The one case where the machinery fails the run: a part failing its very first
    start (the HTTP server cannot bind). It is not retried, and the user's root
    never starts; the run's error carries the cause.
    """
    started: list[str] = []
    attempts: list[str] = []

    async def worker() -> None:
        started.append("w")
        await trio.sleep_forever()

    async def cannot_bind(
        *args: Any, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        attempts.append("bind")
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(supervisor.http._server, "_serve_http", cannot_bind)
    spec = Supervisor(name="app", children=[Child(name="w", target=worker)])
    with pytest.raises(BaseException) as failed:  # noqa: PT011 - unwrapped below
        async with open_tree(spec, http="127.0.0.1:1", loop_block_threshold=None):
            pass
    error: BaseException = failed.value
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]

    assert ([], ["bind"]) == (started, attempts)
    assert isinstance(error, supervisor.TooManyRestarts)
    assert error.last is not None
    assert "Address already in use" in (error.last.exc_message or "")


def test_a_huge_unit_or_message_is_cut() -> None:
    """
    What a check reports is in every /status and health+json answer (the unit
    for anonymous callers too): a 100,000-character unit or message is cut, so
    that one check cannot make each answer megabytes.
    """

    async def fn() -> None:
        return None

    state = CheckState(Check(name="big", fn=fn))
    huge = Observation(value=1.0, unit="u" * 100_000, message="m" * 100_000)
    state.record(1.0, huge, None)

    assert 0 < len(state.observed_unit or "") < 100
    assert 0 < len(state.note or "") < 2100
    state.record(2.0, None, CheckFailed("over", 5.0, "u" * 100_000))
    assert 0 < len(state.observed_unit or "") < 100
