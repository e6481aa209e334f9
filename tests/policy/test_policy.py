"""
The pure policy: intensity window, backoff schedule and restart plans.

Plain numbers in, verdicts out; no trio and no clock.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervisor import Backoff, Jitter, Restart, Strategy
from supervisor._policy.backoff import BackoffSchedule
from supervisor._policy.exits import should_restart
from supervisor._policy.intensity import RestartWindow
from supervisor._policy.strategy import Plan, PlanEntry, plan_restart

PERMANENT = Restart.PERMANENT
TRANSIENT = Restart.TRANSIENT
TEMPORARY = Restart.TEMPORARY


@pytest.fixture
def seeded_random() -> Iterator[None]:
    """
    Seed the global `random` (the `backoff` jitters use it), restoring it after.
    """
    state = random.getstate()
    random.seed(20240601)
    yield
    random.setstate(state)


# ---- intensity --------------------------------------------------------------


def admit_until_refused(window: RestartWindow, times: list[float]) -> list[bool]:
    """
    Admit *times* in order and return the verdicts, up to the first refusal.
    """
    verdicts = []
    for now in times:
        verdicts.append(window.admit(now))
        if not verdicts[-1]:
            break
    return verdicts


def naive_verdicts(times: list[float], intensity: int, period: float) -> list[bool]:
    """
    Reference model: keep every restart time, count those with now - t <= period (OTP).
    """
    verdicts = []
    for i, now in enumerate(times):
        recent = sum(1 for t in times[: i + 1] if now - t <= period)
        verdicts.append(recent <= intensity)
        if not verdicts[-1]:
            break
    return verdicts


class TestRestartWindow:
    """
    Tests for `RestartWindow`.
    """

    @pytest.mark.parametrize(
        ("intensity", "period", "times", "expected"),
        [
            (1, 5.0, [0.0, 1.0], [True, False]),
            (2, 5.0, [0.0, 1.0, 2.0], [True, True, False]),
            (3, 5.0, [0.0, 0.0, 0.0, 0.0], [True, True, True, False]),
            (3, 5.0, [0.0, 1.0, 2.0, 4.9], [True, True, True, False]),
            (3, 60.0, [0.0, 10.0, 20.0, 30.0], [True, True, True, False]),
        ],
    )
    def test_trips_on_intensity_plus_one_within_period(
        self, intensity, period, times, expected
    ):
        """
        The (intensity + 1)-th restart inside one period is refused.
        """
        window = RestartWindow(intensity=intensity, period=period)

        assert expected == [window.admit(t) for t in times]

    @pytest.mark.parametrize(
        ("intensity", "period", "times", "expected"),
        [
            (1, 5.0, [0.0, 5.5], [True, True]),
            (1, 5.0, [0.0, 5.5, 11.0, 16.5], [True, True, True, True]),
            (2, 5.0, [0.0, 1.0, 5.5, 6.5], [True, True, True, True]),
            (2, 5.0, [0.0, 1.0, 5.5, 5.9], [True, True, True, False]),
            (3, 10.0, [0, 4, 8, 12, 16, 20, 24], [True] * 7),
        ],
    )
    def test_old_restarts_age_out(self, intensity, period, times, expected):
        """
        Restarts older than `period` no longer count.
        """
        window = RestartWindow(intensity=intensity, period=period)

        assert expected == [window.admit(t) for t in times]

    @pytest.mark.parametrize(
        ("second", "expected"),
        [(4.75, False), (5.0, False), (5.25, True)],
    )
    def test_boundary(self, second, expected):
        """
        A restart exactly `period` ago still counts (OTP's add_restart: now - t <= period).
        """
        window = RestartWindow(intensity=1, period=5.0)
        window.admit(0.0)

        assert expected == window.admit(second)

    def test_intensity_zero_refuses_the_first_restart(self):
        """
        With intensity 0 any restart escalates.
        """
        window = RestartWindow(intensity=0, period=5.0)

        assert False is window.admit(100.0)

    @pytest.mark.parametrize("intensity", [0, 1, 3, 10])
    def test_memory_is_bounded(self, intensity):
        """
        The window never holds more than intensity + 1 times, whatever the history.
        """
        window = RestartWindow(intensity=intensity, period=1000.0)
        sizes = set()
        for i in range(2000):
            window.admit(i * 0.25)
            sizes.add(len(window._times))

        assert intensity + 1 == max(sizes)

    @given(
        steps=st.lists(st.integers(min_value=0, max_value=40), max_size=30),
        intensity=st.integers(min_value=0, max_value=6),
        period=st.integers(min_value=1, max_value=80),
    )
    def test_matches_naive_model(self, steps, intensity, period):
        """
        `admit` answers as a model that keeps every restart time, up to the first
        refusal (after which the supervisor gives up).

        Times and period are multiples of 1/4 so that float subtraction is exact
        and the boundary is well defined.
        """
        times, now = [], 0.0
        for step in steps:
            now += step / 4
            times.append(now)
        window = RestartWindow(intensity=intensity, period=period / 4)

        assert naive_verdicts(times, intensity, period / 4) == admit_until_refused(
            window, times
        )


# ---- backoff ----------------------------------------------------------------


def delays(schedule: BackoffSchedule, runs: list[float]) -> list[float]:
    """
    The delays *schedule* gives after incarnations that ran for *runs* seconds.
    """
    return [after_run(schedule, ran_for) for ran_for in runs]


def after_run(schedule: BackoffSchedule, ran_for: float) -> float:
    """The delay after an incarnation that ran *ran_for* seconds, as the node asks."""
    schedule.note_run(ran_for)
    return schedule.next_delay()


def exact(**kwargs: float) -> BackoffSchedule:
    """
    A schedule without jitter: 1, 2, 4, 8, 8, ... unless told otherwise.
    """
    spec = {"initial": 1, "factor": 2, "max": 8, "reset_after": 30} | kwargs
    return BackoffSchedule(Backoff(jitter=Jitter.NONE, **spec))


class TestBackoffSchedule:
    """
    Tests for `BackoffSchedule`.
    """

    def test_exponential_up_to_max(self):
        """
        Delays double from `initial` and stay at `max`.
        """
        assert [1, 2, 4, 8, 8] == delays(exact(), [0, 0, 0, 0, 0])

    @pytest.mark.parametrize(
        ("kwargs", "expected"),
        [
            ({"initial": 0.5, "factor": 3, "max": 10}, [0.5, 1.5, 4.5, 10, 10]),
            ({"initial": 2, "factor": 1, "max": 8}, [2, 2, 2, 2, 2]),
            ({"initial": 1, "factor": 2, "max": 1}, [1, 1, 1, 1, 1]),
            ({"initial": 0, "factor": 2, "max": 8}, [0, 0, 0, 0, 0]),
            ({"initial": 3, "factor": 2, "max": 20}, [3, 6, 12, 20, 20]),
        ],
    )
    def test_table(self, kwargs, expected):
        """
        Other shapes follow min(initial * factor**n, max).
        """
        assert expected == delays(exact(**kwargs), [0, 0, 0, 0, 0])

    @pytest.mark.parametrize("ran_for", [30, 30.5, 1000])
    def test_reset_after_a_long_run(self, ran_for):
        """
        A run of at least `reset_after` starts the schedule over from `initial`.
        """
        assert [1, 2, 4, 1, 2] == delays(exact(), [0, 0, 0, ran_for, 0])

    @pytest.mark.parametrize("ran_for", [0, 10, 29.999])
    def test_short_run_does_not_reset(self, ran_for):
        """
        A run shorter than `reset_after` continues the schedule.
        """
        assert [1, 2, 4, 8] == delays(exact(), [0, 0, 0, ran_for])

    def test_long_first_run(self):
        """
        A long run before the first crash changes nothing: the schedule is fresh.
        """
        assert [1, 2] == delays(exact(), [100, 0])

    def test_attempt_counter(self):
        """
        `attempt` counts restarts since the last reset, this one included.
        """
        schedule = exact()
        attempts = [schedule.attempt]
        for ran_for in (0, 0, 0, 30, 0):
            after_run(schedule, ran_for)
            attempts.append(schedule.attempt)

        assert [0, 1, 2, 3, 1, 2] == attempts

    def test_explicit_reset(self):
        """
        `reset` starts over from `initial` and zeroes the attempt counter.
        """
        schedule = exact()
        delays(schedule, [0, 0, 0])
        schedule.reset()

        assert (0, [1, 2]) == (schedule.attempt, delays(schedule, [0, 0]))

    @pytest.mark.usefixtures("seeded_random")
    def test_full_jitter(self):
        """
        Full jitter picks each delay uniformly in [0, d].
        """
        schedule = BackoffSchedule(
            Backoff(initial=1, factor=2, max=8, jitter=Jitter.FULL)
        )
        nominal = [min(2**n, 8) for n in range(200)]
        actual = delays(schedule, [0] * 200)

        assert [] == [
            (d, x) for d, x in zip(nominal, actual, strict=True) if not 0 <= x <= d
        ]
        assert nominal != actual

    @pytest.mark.usefixtures("seeded_random")
    def test_random_jitter(self):
        """
        Random jitter adds up to a second, never going beyond `max`.
        """
        schedule = BackoffSchedule(
            Backoff(initial=1, factor=2, max=8, jitter=Jitter.RANDOM)
        )
        nominal = [min(2**n, 8) for n in range(200)]
        actual = delays(schedule, [0] * 200)

        assert [] == [
            (d, x)
            for d, x in zip(nominal, actual, strict=True)
            if not d <= x <= min(d + 1, 8)
        ]
        assert nominal[:3] != actual[:3]

    def test_custom_jitter_is_applied_and_capped(self):
        """
        A callable jitter sees the nominal delay; its answer is capped at `max`.
        """
        schedule = BackoffSchedule(
            Backoff(initial=1, factor=2, max=8, jitter=lambda d: d * 3)
        )

        assert [3, 6, 8, 8] == delays(schedule, [0, 0, 0, 0])

    def test_custom_jitter_never_negative(self):
        """
        A jitter that answers below zero gives an immediate restart, not a negative
        delay.
        """
        schedule = BackoffSchedule(Backoff(initial=1, max=8, jitter=lambda d: -d))

        assert [0, 0] == delays(schedule, [0, 0])

    @pytest.mark.usefixtures("seeded_random")
    @pytest.mark.parametrize(
        "jitter",
        [Jitter.NONE, Jitter.FULL, Jitter.RANDOM, lambda d: d + 5],
        ids=["none", "full", "random", "callable"],
    )
    def test_initial_zero_is_immediate_even_with_jitter(self, jitter):
        """
        `initial=0` restarts at once every time: jitter only applies above zero.
        """
        schedule = BackoffSchedule(Backoff(initial=0, jitter=jitter))

        assert [0] * 10 == delays(schedule, [0] * 10)

    def test_initial_zero_for_a_long_flapping_run(self):
        """
        `initial=0` (with the default float `factor`) stays at zero however many
        restarts there are without a reset: a child crashing every few seconds
        never trips the default intensity, so thousands of restarts are reachable.
        """
        schedule = BackoffSchedule(Backoff(initial=0, jitter=Jitter.NONE))

        assert [0] * 2000 == delays(schedule, [0] * 2000)

    @given(
        initial=st.floats(min_value=0, max_value=10),
        factor=st.floats(min_value=1, max_value=4),
        headroom=st.floats(min_value=0, max_value=1000),
        reset_after=st.floats(min_value=0.5, max_value=60),
        runs=st.lists(st.floats(min_value=0, max_value=100), max_size=40),
    )
    def test_matches_reference_formula(
        self, initial, factor, headroom, reset_after, runs
    ):
        """
        Without jitter the n-th delay since the last reset is min(initial *
        factor**n, max), and `attempt` is n + 1.
        """
        maximum = initial + headroom
        schedule = BackoffSchedule(
            Backoff(
                initial=initial,
                factor=factor,
                max=maximum,
                jitter=Jitter.NONE,
                reset_after=reset_after,
            )
        )
        expected, actual, n = [], [], 0
        for ran_for in runs:
            if ran_for >= reset_after:
                n = 0
            expected.append((min(initial * factor**n, maximum), n + 1))
            n += 1
            actual.append((after_run(schedule, ran_for), schedule.attempt))

        assert expected == actual


# ---- restart decisions and plans --------------------------------------------


def up(name: str, restart: Restart = PERMANENT) -> PlanEntry:
    """
    A sibling that is running (or starting, or in backoff).
    """
    return PlanEntry(name, restart, active=True)


def down(name: str, restart: Restart = PERMANENT) -> PlanEntry:
    """
    A sibling that was stopped on purpose or has finished.
    """
    return PlanEntry(name, restart, active=False)


class TestShouldRestart:
    """
    Tests for `should_restart`.
    """

    @pytest.mark.parametrize(
        ("restart", "abnormal", "expected"),
        [
            (PERMANENT, True, True),
            (PERMANENT, False, True),
            (TRANSIENT, True, True),
            (TRANSIENT, False, False),
            (TEMPORARY, True, False),
            (TEMPORARY, False, False),
        ],
    )
    def test_table(self, restart, abnormal, expected):
        """
        PERMANENT always, TRANSIENT only after an abnormal exit, TEMPORARY never.
        """
        assert expected == should_restart(restart, abnormal=abnormal)


ABCD = [up("a"), up("b"), up("c"), up("d")]


class TestPlanRestart:
    """
    Tests for `plan_restart`.
    """

    @pytest.mark.parametrize(
        ("children", "exited", "expected"),
        [
            (ABCD, "b", Plan(stop=(), start=("b",))),
            (ABCD, "a", Plan(stop=(), start=("a",))),
            ([up("a", TEMPORARY), down("b")], "b", Plan(stop=(), start=("b",))),
        ],
    )
    def test_one_for_one(self, children, exited, expected):
        """
        Only the exited child is restarted; no sibling is touched.
        """
        assert expected == plan_restart(Strategy.ONE_FOR_ONE, children, exited)

    @pytest.mark.parametrize(
        ("children", "exited", "expected"),
        [
            (ABCD, "b", Plan(stop=("d", "c", "a"), start=("a", "b", "c", "d"))),
            (ABCD, "a", Plan(stop=("d", "c", "b"), start=("a", "b", "c", "d"))),
            (ABCD, "d", Plan(stop=("c", "b", "a"), start=("a", "b", "c", "d"))),
            ([up("a")], "a", Plan(stop=(), start=("a",))),
            (
                [up("a"), down("b"), up("c"), up("d")],
                "b",
                Plan(stop=("d", "c", "a"), start=("a", "b", "c", "d")),
            ),
            (
                [up("a"), up("b"), down("c"), up("d")],
                "b",
                Plan(stop=("d", "a"), start=("a", "b", "d")),
            ),
            (
                [up("a"), up("b"), up("c", TEMPORARY), up("d")],
                "b",
                Plan(stop=("d", "c", "a"), start=("a", "b", "d")),
            ),
            (
                [up("a", TRANSIENT), up("b"), down("c", TEMPORARY), up("d")],
                "b",
                Plan(stop=("d", "a"), start=("a", "b", "d")),
            ),
            (
                [down("a"), up("b", TRANSIENT), up("c", TEMPORARY)],
                "b",
                Plan(stop=("c",), start=("b",)),
            ),
        ],
        ids=[
            "middle",
            "first",
            "last",
            "only",
            "exited-inactive",
            "inactive-sibling",
            "temporary-sibling",
            "mixed",
            "transient-exited",
        ],
    )
    def test_one_for_all(self, children, exited, expected):
        """
        Every active sibling is stopped in reverse start order, then all but the
        TEMPORARY ones are started in start order with the exited child in place.
        """
        assert expected == plan_restart(Strategy.ONE_FOR_ALL, children, exited)

    @pytest.mark.parametrize(
        ("children", "exited", "expected"),
        [
            (ABCD, "b", Plan(stop=("d", "c"), start=("b", "c", "d"))),
            (ABCD, "a", Plan(stop=("d", "c", "b"), start=("a", "b", "c", "d"))),
            (ABCD, "d", Plan(stop=(), start=("d",))),
            (
                [up("a"), down("b"), up("c"), up("d")],
                "b",
                Plan(stop=("d", "c"), start=("b", "c", "d")),
            ),
            (
                [up("a"), up("b"), down("c"), up("d")],
                "b",
                Plan(stop=("d",), start=("b", "d")),
            ),
            (
                [up("a", TEMPORARY), up("b"), up("c", TEMPORARY), up("d")],
                "b",
                Plan(stop=("d", "c"), start=("b", "d")),
            ),
            (
                [down("a"), up("b"), up("c", TRANSIENT)],
                "b",
                Plan(stop=("c",), start=("b", "c")),
            ),
        ],
        ids=[
            "middle",
            "first",
            "last",
            "exited-inactive",
            "inactive-later-sibling",
            "temporary-siblings",
            "earlier-inactive",
        ],
    )
    def test_rest_for_one(self, children, exited, expected):
        """
        The exited child and the active siblings started after it are swept;
        earlier siblings are never touched.
        """
        assert expected == plan_restart(Strategy.REST_FOR_ONE, children, exited)


@pytest.mark.parametrize(
    ("initial", "factor", "cap"),
    [(1e-320, 2.0, 1.0), (0.5, 1e300, 1e308), (1e-300, 2.0, 1e308)],
)
def test_backoff_past_the_floats_stays_at_max(
    initial: float, factor: float, cap: float
) -> None:
    """
    A valid Backoff whose factor**n overflows before initial * factor**n reaches
    max (a tiny initial, or max=1e308 once inf is refused) keeps giving max:
    next_delay raised OverflowError, a crash of the supervisor itself.
    """
    schedule = BackoffSchedule(
        Backoff(initial=initial, factor=factor, max=cap, jitter=Jitter.NONE)
    )
    delays = [schedule.next_delay() for _ in range(3000)]

    assert delays[-1] == cap
    assert all(0 < d <= cap for d in delays)
