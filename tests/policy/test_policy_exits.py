"""
The exit decision (`supervisor._policy.exits.decide_exit`) as a table: what
ended, the child's restart type and the supervisor's state in, one decision
out. No trio: plain values, pure window and schedule objects.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from supervisor._policy import exits
from supervisor._policy.backoff import BackoffSchedule
from supervisor._policy.exits import (
    ENDED,
    ENDED_AUTO_SHUTDOWN,
    ESCALATE,
    RESTART_ALONE,
    STOPPED,
    STOPPED_CRASHED,
    STOPPED_RETURNED,
    SWEEP,
    decide_exit,
)
from supervisor._policy.intensity import RestartWindow
from supervisor._policy.states import Reason
from supervisor._spec import AutoShutdown, Backoff, Jitter, Restart, Strategy

PERMANENT, TRANSIENT, TEMPORARY = (
    Restart.PERMANENT,
    Restart.TRANSIENT,
    Restart.TEMPORARY,
)
NORMAL, CRASH, SHUTDOWN = Reason.NORMAL, Reason.CRASH, Reason.SHUTDOWN
START_TIMEOUT, HEARTBEAT_TIMEOUT = Reason.START_TIMEOUT, Reason.HEARTBEAT_TIMEOUT
ESCALATED = Reason.ESCALATED
ANY, ALL, NEVER = (
    AutoShutdown.ANY_SIGNIFICANT,
    AutoShutdown.ALL_SIGNIFICANT,
    AutoShutdown.NEVER,
)
ONE_FOR_ONE, ONE_FOR_ALL, REST_FOR_ONE = (
    Strategy.ONE_FOR_ONE,
    Strategy.ONE_FOR_ALL,
    Strategy.REST_FOR_ONE,
)

NONE_ = Jitter.NONE
ABNORMAL = (CRASH, START_TIMEOUT, HEARTBEAT_TIMEOUT, ESCALATED)


def decide(
    reason: Reason | None,
    *,
    window: RestartWindow | None = None,
    schedule: BackoffSchedule | None = None,
    now: float = 100.0,
    ran_for: float | None = 1.0,
    **facts: Any,
) -> tuple[int, float]:
    """decide_exit for a running PERMANENT child of a quiet ONE_FOR_ONE supervisor."""
    args: dict[str, Any] = {
        "was_running": True,
        "stop_reached": False,
        "stopping": False,
        "closing": False,
        "restart": PERMANENT,
        "significant": False,
        "auto_shutdown": NEVER,
        "significant_alive": False,
        "strategy": ONE_FOR_ONE,
        "escalates": True,
        "ever_started": True,
    }
    args.update(facts)
    return decide_exit(
        reason,
        now,
        ran_for,
        window=window if window is not None else RestartWindow(3, 5.0),
        schedule=schedule if schedule is not None else BackoffSchedule(Backoff()),
        **args,
    )


def kind(reason: Reason | None, **facts: Any) -> str:
    return exits.NAMES[decide(reason, **facts)[0]]


# ---- stopping: nothing is restarted -------------------------------------------

STOPPING_TABLE = [
    # reason, stop_reached -> kind
    (None, False, "stopped"),  # cancelled from outside, or the tree aborted
    (None, True, "stopped"),
    (SHUTDOWN, True, "stopped"),
    (SHUTDOWN, False, "stopped"),
    (NORMAL, True, "stopped"),  # returned once asked: a graceful stop
    (NORMAL, False, "stopped_returned"),  # returned before the stop reached it
    *((r, True, "stopped_crashed") for r in ABNORMAL),
    *((r, False, "stopped_crashed") for r in ABNORMAL),
]


@pytest.mark.parametrize(("reason", "stop_reached", "expected"), STOPPING_TABLE)
@pytest.mark.parametrize("how", ["stopping", "closing"])
@pytest.mark.parametrize("restart", list(Restart))
def test_an_exit_while_stopping_is_never_restarted(
    reason: Reason | None,
    stop_reached: bool,
    expected: str,
    how: str,
    restart: Restart,
) -> None:
    window = RestartWindow(0, 5.0)  # would escalate on any restart
    got = kind(
        reason, stop_reached=stop_reached, restart=restart, window=window, **{how: True}
    )

    assert got == expected
    assert window.admit(0.0) is False  # only this admit counted: none by the decision


def test_no_exit_of_its_own_is_a_stop_even_when_nothing_stops_it() -> None:
    assert decide(None) == (STOPPED, 0.0)


# ---- restart types (OTP's restart/2) --------------------------------------------

RESTART_TABLE = [
    # restart, reason -> kind
    (PERMANENT, NORMAL, "restart_alone"),
    (PERMANENT, CRASH, "restart_alone"),
    (PERMANENT, SHUTDOWN, "restart_alone"),
    (TRANSIENT, NORMAL, "ended"),
    (TRANSIENT, SHUTDOWN, "ended"),  # a shutdown it did not get from us: not abnormal
    *((TRANSIENT, r, "restart_alone") for r in ABNORMAL),
    (TEMPORARY, NORMAL, "ended"),
    *((TEMPORARY, r, "ended") for r in ABNORMAL),
]


@pytest.mark.parametrize(("restart", "reason", "expected"), RESTART_TABLE)
def test_restart_type_decides_whether_an_exit_restarts(
    restart: Restart, reason: Reason, expected: str
) -> None:
    assert kind(reason, restart=restart) == expected


# ---- significant children and auto_shutdown -----------------------------------

SIGNIFICANT_TABLE = [
    # auto_shutdown, significant_alive -> kind
    (ANY, False, "ended_auto_shutdown"),
    (ANY, True, "ended_auto_shutdown"),
    (ALL, False, "ended_auto_shutdown"),
    (ALL, True, "ended"),  # another significant child still runs
    (NEVER, False, "ended"),  # refused by the spec; never a shutdown
]


@pytest.mark.parametrize(("auto_shutdown", "alive", "expected"), SIGNIFICANT_TABLE)
@pytest.mark.parametrize(
    ("restart", "reason"),
    [(TRANSIENT, NORMAL), (TEMPORARY, NORMAL), (TEMPORARY, CRASH)],
)
def test_a_significant_child_that_ends_may_shut_its_supervisor_down(
    auto_shutdown: AutoShutdown,
    alive: bool,
    expected: str,
    restart: Restart,
    reason: Reason,
) -> None:
    got = kind(
        reason,
        restart=restart,
        significant=True,
        auto_shutdown=auto_shutdown,
        significant_alive=alive,
    )

    assert got == expected


@pytest.mark.parametrize("auto_shutdown", [ANY, ALL])
def test_a_significant_child_that_restarts_shuts_nothing_down(
    auto_shutdown: AutoShutdown,
) -> None:
    got = kind(CRASH, restart=TRANSIENT, significant=True, auto_shutdown=auto_shutdown)

    assert got == "restart_alone"


def test_an_insignificant_child_that_ends_shuts_nothing_down() -> None:
    assert kind(NORMAL, restart=TEMPORARY, auto_shutdown=ANY) == "ended"


# ---- intensity -------------------------------------------------------------------


def test_the_restart_past_the_intensity_escalates() -> None:
    window = RestartWindow(2, 5.0)
    kinds = [kind(CRASH, window=window, now=t) for t in (0.0, 1.0, 2.0)]

    assert kinds == ["restart_alone", "restart_alone", "escalate"]


def test_restarts_outside_the_period_do_not_count() -> None:
    window = RestartWindow(1, 5.0)
    kinds = [kind(CRASH, window=window, now=t) for t in (0.0, 5.0, 10.5)]

    assert kinds == ["restart_alone", "escalate", "restart_alone"]


def test_an_exit_that_ends_the_child_is_not_counted() -> None:
    window = RestartWindow(0, 5.0)

    assert kind(NORMAL, restart=TRANSIENT, window=window) == "ended"
    assert kind(CRASH, window=window) == "escalate"  # the first restart


@pytest.mark.parametrize(
    ("ever_started", "expected"), [(False, "escalate"), (True, "restart_alone")]
)
def test_the_system_node_gives_up_only_on_a_part_that_never_came_up(
    ever_started: bool, expected: str
) -> None:
    window = RestartWindow(0, 5.0)  # never consulted
    got = kind(
        CRASH,
        escalates=False,
        ever_started=ever_started,
        was_running=False,
        window=window,
    )

    assert got == expected
    assert window.admit(0.0) is False  # the decision did not use it up


# ---- strategy --------------------------------------------------------------------

STRATEGY_TABLE = [
    # strategy, was_running -> kind
    (ONE_FOR_ONE, True, "restart_alone"),
    (ONE_FOR_ONE, False, "restart_alone"),
    (ONE_FOR_ALL, True, "sweep"),
    (REST_FOR_ONE, True, "sweep"),
    (ONE_FOR_ALL, False, "restart_alone"),  # a failed start is retried alone
    (REST_FOR_ONE, False, "restart_alone"),
]


@pytest.mark.parametrize(("strategy", "was_running", "expected"), STRATEGY_TABLE)
def test_strategy_decides_whether_siblings_are_swept(
    strategy: Strategy, was_running: bool, expected: str
) -> None:
    assert kind(CRASH, strategy=strategy, was_running=was_running) == expected


# ---- backoff ---------------------------------------------------------------------


def test_a_restart_carries_the_next_backoff_delay() -> None:
    schedule = BackoffSchedule(Backoff(initial=1.0, factor=2.0, max=30.0, jitter=NONE_))
    decisions = [decide(CRASH, schedule=schedule, ran_for=0.5) for _ in range(3)]

    assert decisions == [
        (RESTART_ALONE, 1.0),
        (RESTART_ALONE, 2.0),
        (RESTART_ALONE, 4.0),
    ]
    assert schedule.attempt == 3


def test_a_sweep_carries_the_delay_too() -> None:
    schedule = BackoffSchedule(Backoff(initial=0.5, jitter=NONE_))

    assert decide(CRASH, schedule=schedule, strategy=ONE_FOR_ALL) == (SWEEP, 0.5)


def test_a_stable_run_resets_the_backoff_however_it_ends() -> None:
    schedule = BackoffSchedule(
        Backoff(initial=1.0, factor=2.0, reset_after=10.0, jitter=NONE_)
    )
    decide(CRASH, schedule=schedule, ran_for=0.5)
    decide(CRASH, schedule=schedule, ran_for=0.5)
    # A stable run that ends in a stop still resets the schedule.
    assert decide(None, schedule=schedule, ran_for=10.0, closing=True)[0] == STOPPED

    assert decide(CRASH, schedule=schedule, ran_for=0.5) == (RESTART_ALONE, 1.0)


def test_a_failed_start_does_not_reset_the_backoff() -> None:
    schedule = BackoffSchedule(
        Backoff(initial=1.0, factor=2.0, reset_after=10.0, jitter=NONE_)
    )
    decide(CRASH, schedule=schedule, ran_for=None, was_running=False)

    got = decide(CRASH, schedule=schedule, ran_for=None, was_running=False)

    assert got == (RESTART_ALONE, 2.0)


@pytest.mark.parametrize(
    "facts",
    [
        {"closing": True},
        {"restart": TEMPORARY},
        {"window": RestartWindow(0, 5.0)},
    ],
)
def test_only_a_restart_takes_a_delay(facts: dict[str, Any]) -> None:
    schedule = BackoffSchedule(Backoff(initial=1.0))

    assert decide(CRASH, schedule=schedule, **facts)[1] == 0.0
    assert schedule.attempt == 0


# ---- encoding ----------------------------------------------------------------------


def test_decisions_are_plain_tuples_and_those_without_delay_are_shared() -> None:
    first = decide(NORMAL, restart=TEMPORARY)
    again = decide(NORMAL, restart=TEMPORARY)

    assert type(first) is tuple
    assert first is again  # preallocated: nothing is built per exit
    assert type(decide(CRASH)) is tuple


def test_every_kind_has_a_distinct_name() -> None:
    kinds = [
        STOPPED,
        STOPPED_CRASHED,
        STOPPED_RETURNED,
        ENDED,
        ENDED_AUTO_SHUTDOWN,
        ESCALATE,
        RESTART_ALONE,
        SWEEP,
    ]

    assert sorted(kinds) == list(range(len(exits.NAMES)))
    # The runtime tells the stopped kinds by `kind <= STOPPED_RETURNED`.
    assert max(STOPPED, STOPPED_CRASHED) < STOPPED_RETURNED < min(kinds[3:])
    assert len(set(exits.NAMES)) == len(exits.NAMES)


# ---- purity ------------------------------------------------------------------------

# The package's __init__ imports the whole runtime (and so trio); the policy
# must not need it. Load the policy under a bare `supervisor` package and see
# what its own import chain pulls in.
_PROBE = """
import importlib, sys, types
pkg = types.ModuleType("supervisor")
pkg.__path__ = [{path!r}]
sys.modules["supervisor"] = pkg
for name in {modules!r}:
    importlib.import_module(name)
print(sorted(m for m in ("trio", "anyio", "outcome", "sniffio") if m in sys.modules))
"""


def test_the_policy_imports_no_trio_through_any_chain() -> None:
    package = Path(exits.__file__).parent.parent
    modules = [
        f"supervisor._policy.{p.stem}"
        for p in sorted((package / "_policy").glob("*.py"))
        if p.stem != "__init__"
    ]
    assert "supervisor._policy.exits" in modules
    probe = _PROBE.format(path=str(package), modules=modules)

    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout

    assert out.strip() == "[]"


def test_the_probe_sees_trio_when_it_is_imported() -> None:
    # The probe above would pass vacuously if it could not see an import.
    package = Path(exits.__file__).parent.parent
    probe = _PROBE.format(path=str(package), modules=["supervisor._runtime.watchdog"])

    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout

    assert "'trio'" in out
