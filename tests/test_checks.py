"""
Check semantics (Kubernetes thresholds) under a MockClock, and the built-in
checks against real sockets and this very process.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

import supervisor
from supervisor import Check, Child, Feeds, Supervisor, checks, open_tree
from supervisor._checks import CheckState


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
        state = tree.check_states()[0]
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
        nursery.start_soon(supervisor._checks.run_check, state, trio.current_time)
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
