"""
The check runner: one supervised child per check, calling it on its schedule,
bounding each call by its timeout and recording the result in its
`CheckState` (`supervisor._checks`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

import attrs
import trio

from .._checks import Check, CheckState, Observation, _validated
from .._log import get_logger

LOG = get_logger("supervisor")


@attrs.define(eq=False)
class _Run:
    """One call of a check's function, in a task of its own."""

    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    done: trio.Event = attrs.Factory(trio.Event)
    started_at: float = 0.0
    obs: Observation | None = None
    error: Exception | None = None
    reported: bool = False  # check_unstopped was logged


async def _call(check: Check, run: _Run) -> None:
    try:
        with run.scope:
            run.obs = _validated(check.name, await check.fn())
    except Exception as exc:  # a failing check, recorded; never propagated
        run.error = exc
    finally:
        run.done.set()


async def run_check(
    state: CheckState,
    now: Callable[[], float],
    on_change: Callable[[], None] = lambda: None,
) -> None:
    """
    The runner: a supervised child looping forever over one check.

    Each call of the check's function runs in a task of its own, so that the
    verdict never waits for user code: at the timeout the runner records the
    failure itself and cancels the call. A call that outlives its cancellation
    (it catches `trio.Cancelled`, or shields itself) is reported once
    (``check_unstopped``) and not called again while it runs: every interval
    it still runs counts as one more failure. trio cannot abandon a task, so
    at stop it holds this runner as any child that ignores cancellation holds
    its supervisor: past its ``shutdown`` bound the runner is ``unstopped``.
    """
    error: BaseException
    try:
        async with trio.open_nursery() as calls:
            await _loop(state, now, on_change, calls)
    except BaseExceptionGroup as group:
        # The loop's own error (a crash of the runner, or its cancellation),
        # bare, as if no nursery were there: the calls record theirs (_call).
        if len(group.exceptions) != 1:
            raise
        error = group.exceptions[0]
    else:  # pragma: no cover - the loop ends only by an exception
        return
    try:
        raise error  # outside the except clause: no __context__ to the group
    finally:
        del error


async def _loop(
    state: CheckState,
    now: Callable[[], float],
    on_change: Callable[[], None],
    calls: trio.Nursery,
) -> NoReturn:
    check = state.check
    log = LOG.bind(check=check.name)
    stuck: _Run | None = None
    while True:
        if stuck is not None and stuck.done.is_set():
            stuck = None
        obs: Observation | None = None
        error: Exception | None
        if stuck is None:
            run = _Run(started_at=now())
            calls.start_soon(_call, check, run)
            with trio.move_on_after(check.timeout):
                await run.done.wait()
            if run.done.is_set():
                obs, error = run.obs, run.error
            else:
                run.scope.cancel()
                stuck = run  # until it has ended: a check runs once at a time
                error = TimeoutError(f"no answer within {check.timeout:g} s")
        else:
            running_for = now() - stuck.started_at
            if not stuck.reported:
                stuck.reported = True
                log.error(
                    "check_unstopped",
                    timeout=check.timeout,
                    running_for=running_for,
                )
            error = TimeoutError(
                f"no answer within {check.timeout:g} s, and still running "
                f"{running_for:.3g} s after its start: it ignores cancellation"
            )
        _record(state, obs, error, time=now(), on_change=on_change, log=log)
        await trio.sleep(check.interval)


def _record(
    state: CheckState,
    obs: Observation | None,
    error: Exception | None,
    *,
    time: float,
    on_change: Callable[[], None],
    log: Any,
) -> None:
    """Record one run; a verdict change is an event and invalidates cached documents."""
    was_up = state.up
    if state.record(time, obs, error):
        on_change()  # a new status: cached status documents are stale
    if state.up is False and was_up is not False:
        log.warning(
            "check_failed",
            feeds=state.check.feeds.value,
            consecutive_failures=state.consecutive_failures,
            error=state.last_error,
        )
    elif state.up is True and was_up is False:
        log.info(
            "check_recovered",
            feeds=state.check.feeds.value,
            consecutive_successes=state.consecutive_successes,
        )
